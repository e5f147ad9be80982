"""What every benchmark shares: figures (median and spread), the bench Redmine, running syncd as
a measured subprocess, and counting requests in the emulator's log and Redmine's own log."""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
ENV_FILE = Path(os.environ.get("SYNCD_BENCH_REDMINE_ENV") or VAR / "redmine-bench.env")
ZENDESK_TOKEN = "bench-zendesk-token"
AGENT_EMAIL = "agent@studio.example"
TIMEOUT = 300.0


# ---------------------------------------------------------------------------------- figures
def spread(values: Sequence[float]) -> tuple[float, float, float]:
    """(median, min, max)."""
    return statistics.median(values), min(values), max(values)


def result(
    id: str,
    title: str,
    runs: Sequence[float],
    unit: str,
    *,
    target: str,
    met: bool,
    beside: str,
    measured_on: str,
    digits: int = 3,
    **extra: Any,
) -> dict[str, Any]:
    """One figure in the shape the runner writes (bench/__main__.py)."""
    median, low, high = spread(runs)
    return {
        "id": id,
        "title": title,
        "value": round(median, digits),
        "unit": unit,
        "spread": [round(low, digits), round(high, digits)],
        "runs": [round(r, digits) for r in runs],
        "target": target,
        "met": bool(met),
        "beside": beside,
        "measured_on": measured_on,
        **extra,
    }


def pages(items: int, per_page: int) -> int:
    """Requests a paged list needs at the least: one even when it is empty."""
    return max(1, math.ceil(items / per_page))


# ---------------------------------------------------------------------------------- Redmine
@dataclass
class Redmine:
    """The benchmarks' own Redmine instance (scripts/test-env.sh with the bench env file)."""

    url: str
    key: str
    datadir: Path
    ticket_field_id: int
    ids: dict[str, Any]
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    @classmethod
    def connect(cls, env_file: Path = ENV_FILE) -> Redmine:
        if not env_file.exists():
            raise SystemExit(
                f"{env_file} not found: bring up the bench Redmine first (make bench does)"
            )
        env = dict(
            line.split("=", 1)
            for line in env_file.read_text().splitlines()
            if "=" in line and not line.startswith("#")
        )
        ids_file = env_file.with_name(env_file.name.removesuffix(".env") + "-provision.json")
        ids = json.loads(ids_file.read_text())
        rm = cls(
            url=env["REDMINE_URL"],
            key=env["REDMINE_API_KEY"],
            datadir=Path(env["REDMINE_DATADIR"]),
            ticket_field_id=int(env["REDMINE_TICKET_FIELD_ID"]),
            ids=ids,
        )
        rm.get("/users/current.json")
        return rm

    @property
    def db_path(self) -> Path:
        return self.datadir / "db" / "redmine.sqlite3"

    @property
    def log_path(self) -> Path:
        return self.datadir / "log" / "production.log"

    @property
    def version(self) -> str:
        return str(self.ids.get("redmine_version", "?"))

    def rest(self, method: str, path: str, *, json_body: Any = None, params: Any = None) -> Any:
        resp = self.session.request(
            method,
            self.url + path,
            json=json_body,
            params=params,
            headers={"X-Redmine-API-Key": self.key},
            timeout=TIMEOUT,
        )
        if resp.status_code >= 400:
            raise RuntimeError(f"{method} {path} -> {resp.status_code}: {resp.text[:500]}")
        return resp.json() if resp.content.strip() else None

    def get(self, path: str, params: Any = None) -> Any:
        return self.rest("GET", path, params=params)

    def create_project(self, prefix: str) -> tuple[str, int]:
        identifier = f"{prefix}-{secrets.token_hex(4)}"
        body = {
            "identifier": identifier,
            "name": f"bench {identifier}",
            "is_public": True,
            "enabled_module_names": ["issue_tracking", "time_tracking"],
            "tracker_ids": sorted(self.ids["trackers"].values()),
            "issue_custom_field_ids": [self.ticket_field_id],
        }
        data = self.rest("POST", "/projects.json", json_body={"project": body})
        return identifier, int(data["project"]["id"])

    def create_user(self, login: str, project_ids: Iterable[int]) -> int:
        body = {
            "login": login,
            "firstname": "Bench",
            "lastname": login[-30:],  # Redmine's limit
            "mail": f"{login}@bench.example",
            "password": secrets.token_urlsafe(12),
            "must_change_passwd": False,
        }
        user_id = int(self.rest("POST", "/users.json", json_body={"user": body})["user"]["id"])
        role = self.ids["roles"]["Developer"]
        for pid in project_ids:
            membership = {"membership": {"user_id": user_id, "role_ids": [role]}}
            self.rest("POST", f"/projects/{pid}/memberships.json", json_body=membership)
        return user_id

    def total(self, path: str, params: list[tuple[str, Any]]) -> int:
        return int(self.get(path, [*params, ("limit", 1)])["total_count"])

    # -- Redmine's own log: what it served, counted between two byte offsets
    def log_offset(self) -> int:
        return self.log_path.stat().st_size

    def logged_requests(self, start: int, end: int | None = None) -> list[str]:
        with self.log_path.open("rb") as f:
            f.seek(start)
            text = f.read(None if end is None else end - start).decode("utf-8", "replace")
        return re.findall(r'Started (\w+ "[^"?]+)', text)


# ---------------------------------------------------------------------------------- syncd runs
@dataclass
class Run:
    """One syncd subprocess: wall and CPU seconds, peak RSS, exit code, output, and what the
    probe (bench/probe.py) saw of its HTTP."""

    argv: list[str]
    returncode: int
    wall: float
    cpu: float
    maxrss_mb: float
    stdout: str
    stderr: str
    http: dict[str, Any]

    @property
    def http_seconds(self) -> float:
        return float(self.http.get("seconds", 0.0))

    def check(self) -> Run:
        if self.returncode != 0:
            raise RuntimeError(
                f"syncd {' '.join(self.argv)} exited {self.returncode}\n"
                f"stdout: {self.stdout[-2000:]}\nstderr: {self.stderr[-3000:]}"
            )
        return self


def run_syncd(config: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    """`syncd --config CONFIG ARGS` as a child process of its own, through the probe; CPU time
    and peak RSS come from the kernel's accounting of that child (wait4)."""
    with tempfile.NamedTemporaryFile(prefix="syncd-probe-", suffix=".json", delete=False) as tmp:
        probe_out = Path(tmp.name)
    argv = ["--config", str(config), "--log-format", "json", "--log-level", "warning", *args]
    child_env = {**os.environ, **(env or {}), "SYNCD_BENCH_PROBE_OUT": str(probe_out)}
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
    ):
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.probe", *argv],
            cwd=ROOT,
            env=child_env,
            stdout=out,
            stderr=err,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    try:
        http = json.loads(probe_out.read_text() or "{}")
    except (OSError, ValueError):
        http = {}
    finally:
        probe_out.unlink(missing_ok=True)
    return Run(
        argv=list(args),
        returncode=proc.returncode,
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        # The probe's VmHWM; ru_maxrss (kilobytes) is kept across execve, so it may be the
        # runner's size at the fork rather than syncd's.
        maxrss_mb=float(http.get("peak_rss_mb") or usage.ru_maxrss / 1024),
        stdout=stdout,
        stderr=stderr,
        http=http,
    )


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

"""What the figures were measured on: CPU, cores, RAM, OS, Python, Redmine, SQLite, load."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
from pathlib import Path
from typing import Any


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _ram_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return 0.0


def _os() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"') + f", kernel {platform.release()}"
    except OSError:
        pass
    return platform.platform()


def _sqlite_cli() -> str:
    try:
        out = subprocess.run(["sqlite3", "--version"], capture_output=True, text=True, timeout=10)
        return out.stdout.split()[0] if out.stdout else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def describe(redmine_version: str = "?") -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gb": _ram_gb(),
        "os": _os(),
        "python": platform.python_version(),
        "sqlite_python": sqlite3.sqlite_version,
        "sqlite_redmine": _sqlite_cli(),
        "redmine": f"{redmine_version} (Debian package, WEBrick, SQLite)",
        "load_start": load(),
    }


def summary(machine: dict[str, Any]) -> str:
    return (
        f"{machine['cpu']}, {machine['cores']} cores, {machine['ram_gb']} GB RAM; "
        f"{machine['os']}; Python {machine['python']} (SQLite {machine['sqlite_python']}); "
        f"Redmine {machine['redmine']}, SQLite {machine['sqlite_redmine']}; "
        f"load average (1, 5, 15 min) at start {machine['load_start']}, "
        f"at end {machine.get('load_end', '?')}"
    )

"""syncd.lock.CycleLock: one cycle at a time, and a killed holder never leaves it stuck."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from syncd.lock import CycleLock, Locked

HOLDER = """
import sys, time
from pathlib import Path
from syncd.lock import CycleLock
lock = CycleLock(Path(sys.argv[1])).__enter__()
print("locked", flush=True)
time.sleep(60)
"""


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "var" / "syncd.db"


def test_lock_file_sits_beside_the_state_file(state: Path) -> None:
    with CycleLock(state) as lock:
        assert lock.path == state.with_name("syncd.db.lock")
        assert lock.path.exists()
        assert lock.path.read_text() == f"{os.getpid()}\n"
        assert stat.S_IMODE(os.stat(lock.path).st_mode) == 0o600


def test_second_lock_raises_locked_naming_the_pid(state: Path) -> None:
    with CycleLock(state):
        with pytest.raises(Locked) as info, CycleLock(state):
            pytest.fail("entered a held lock")
        assert f"pid {os.getpid()}" in str(info.value)
        assert str(state.with_name("syncd.db.lock")) in str(info.value)


def test_released_on_exit(state: Path) -> None:
    with CycleLock(state) as first:
        pass
    assert first.fd is None
    with CycleLock(state):
        pass


def test_released_when_the_body_raises(state: Path) -> None:
    with pytest.raises(RuntimeError), CycleLock(state):
        raise RuntimeError("cycle failed")
    with CycleLock(state):
        pass


def test_failed_attempt_does_not_release_the_holder(state: Path) -> None:
    with CycleLock(state):
        for _ in range(3):  # each refused attempt closes its own descriptor only
            with pytest.raises(Locked), CycleLock(state):
                pass


def test_stale_pid_from_a_previous_run_is_overwritten(state: Path) -> None:
    state.parent.mkdir(parents=True)
    state.with_name("syncd.db.lock").write_text("99999999999\n")
    with CycleLock(state) as lock:
        assert lock.path.read_text() == f"{os.getpid()}\n"


def test_lock_of_a_killed_process_does_not_block(state: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = child.stdout.readline()
        assert line.strip() == "locked", child.stderr.read()
        with pytest.raises(Locked) as info, CycleLock(state):
            pass
        assert f"pid {child.pid}" in str(info.value)

        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL

        with CycleLock(state) as lock:
            assert lock.path.read_text() == f"{os.getpid()}\n"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
        child.stdout.close()
        child.stderr.close()

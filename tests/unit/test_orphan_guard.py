"""The local server's orphan guard: a child started under it exits once its parent is killed
without clean-up (SIGKILL), and lives while the parent does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import confidence_router

GUARD = Path(confidence_router.__file__).with_name("_orphan_guard.py")

# the parent starts a guarded child that would otherwise run for a minute, prints its pid, waits
PARENT = f"""
import subprocess, sys, os, time
child = subprocess.Popen([sys.executable, {str(GUARD)!r}, str(os.getpid()), "timeit",
                          "-n", "1", "-r", "1", "import time; time.sleep(60)"])
print(child.pid, flush=True)
time.sleep(60)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by init) counts as gone
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


@pytest.mark.skipif(sys.platform != "linux", reason="uses /proc and POSIX signals")
def test_child_exits_when_its_parent_is_killed() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        time.sleep(2.5)  # two polls: the guard leaves a live parent's child alone
        assert alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(child)
    finally:
        parent.kill()
        parent.wait(timeout=10)


def test_usage_error() -> None:
    result = subprocess.run([sys.executable, str(GUARD)], capture_output=True, text=True)
    assert result.returncode != 0 and "usage" in result.stderr

"""Run a module as `__main__`, exiting as soon as the process that started it is gone.

`python path/to/_orphan_guard.py PARENT_PID MODULE [ARGS...]` (run as a file, so it needs no
installed `confidence_router`; it imports the standard library only). The local server runs
under it, so a parent killed without running its clean-up (SIGTERM, SIGKILL, a crash) does not
leave a model server holding the CPU and a port. A daemon thread polls the parent's pid once a
second; when the child has been re-parented (or the pid is gone) it exits at once.
"""

from __future__ import annotations

import os
import runpy
import sys
import threading
import time


def _parent_alive(pid: int) -> bool:
    if os.getppid() != pid:  # re-parented: the parent is gone
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _watch(pid: int, interval: float) -> None:
    while _parent_alive(pid):
        time.sleep(interval)
    os._exit(0)


def main() -> None:
    if len(sys.argv) < 3:
        raise SystemExit("usage: _orphan_guard.py PARENT_PID MODULE [ARGS...]")
    parent, module = int(sys.argv[1]), sys.argv[2]
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]  # no shadowing
    threading.Thread(target=_watch, args=(parent, 1.0), daemon=True).start()
    sys.argv = [module, *sys.argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()

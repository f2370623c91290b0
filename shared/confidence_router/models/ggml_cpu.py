"""llama.cpp's CPU backend on machines that advertise AMX but fault on it.

On some virtual machines the CPU reports AMX (`amx_tile` in /proc/cpuinfo) and the kernel grants
the permission llama.cpp asks for, yet the first AMX tile instruction raises a general protection
fault: every llama.cpp decode crashes the process (SIGSEGV). llama.cpp's CPU backend offers AMX
as an "extra buffer type" ahead of CPU_REPACK. `prepare_llama_cpp()` finds out once per machine,
in a child process, whether AMX decoding works; when it does not, it removes the AMX buffer type
from the backend's list in this process (CPU_REPACK stays, so repacked kernels keep their speed).
The verdict is cached beside the bundled models (`cache_dir()`), keyed by the CPU, the kernel and
the llama.cpp build. `CONFIDENCE_ROUTER_LLAMA_AMX=0` drops AMX without probing, `=1` keeps it.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import platform
import subprocess
import sys
import threading
from pathlib import Path

from confidence_router.models.bundled import cache_dir

_ENV = "CONFIDENCE_ROUTER_LLAMA_AMX"
_lock = threading.Lock()
_prepared = False
_PROBE = """
import sys
from llama_cpp import Llama
llm = Llama(sys.argv[1], n_ctx=64, n_batch=64, n_threads=1, verbose=False)
llm.eval(llm.tokenize(b"Hello, world. The capital of France is"))
print("ok")
"""


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def _machine_key() -> str:
    import llama_cpp

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    parts = [model, platform.release(), llama_cpp.__version__, str(sorted(_cpu_flags()))]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _probe_amx(model_path: Path) -> bool:
    """Does a llama.cpp decode with AMX available survive, in a child process?"""
    env = {**os.environ, _ENV: "1"}
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, str(model_path)],
            capture_output=True,
            timeout=120,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0 and b"ok" in done.stdout


def amx_works(model_path: Path) -> bool:
    """Whether llama.cpp may use AMX here: the environment's word, else the cached probe."""
    wanted = os.environ.get(_ENV)
    if wanted in ("0", "1"):
        return wanted == "1"
    if "amx_tile" not in _cpu_flags():
        return True  # nothing to drop
    marker = cache_dir() / "llama-cpp-amx.json"
    key = _machine_key()
    try:
        known = json.loads(marker.read_text())
    except (OSError, ValueError):
        known = {}
    if key not in known:
        known[key] = _probe_amx(model_path)
        marker.parent.mkdir(parents=True, exist_ok=True)
        tmp = marker.with_name(f"{marker.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known))
        os.replace(tmp, marker)
    return bool(known[key])


def _drop_amx_buffer_type() -> bool:
    """Remove AMX from the CPU backend's extra buffer types (in place); True if it was there."""
    import llama_cpp

    lib = Path(llama_cpp.__file__).parent / "lib"
    mode = getattr(ctypes, "RTLD_GLOBAL", 0)
    base = ctypes.CDLL(str(lib / "libggml-base.so"), mode=mode)
    ggml = ctypes.CDLL(str(lib / "libggml.so"), mode=mode)
    ptr = ctypes.c_void_p
    ggml.ggml_backend_dev_by_type.restype = ptr
    ggml.ggml_backend_dev_by_type.argtypes = [ctypes.c_int]
    base.ggml_backend_dev_backend_reg.restype = ptr
    base.ggml_backend_dev_backend_reg.argtypes = [ptr]
    base.ggml_backend_reg_get_proc_address.restype = ptr
    base.ggml_backend_reg_get_proc_address.argtypes = [ptr, ctypes.c_char_p]
    base.ggml_backend_buft_name.restype = ctypes.c_char_p
    base.ggml_backend_buft_name.argtypes = [ptr]
    llama_cpp.llama_backend_init()
    device = ggml.ggml_backend_dev_by_type(0)  # GGML_BACKEND_DEVICE_TYPE_CPU
    if not device:
        return False
    registry = base.ggml_backend_dev_backend_reg(device)
    address = base.ggml_backend_reg_get_proc_address(registry, b"ggml_backend_dev_get_extra_bufts")
    if not address:
        return False
    extra = ctypes.CFUNCTYPE(ctypes.POINTER(ptr), ptr)(address)(device)  # null-terminated
    entries: list[int] = []
    while extra and extra[len(entries)]:
        entries.append(extra[len(entries)])
    kept = [e for e in entries if base.ggml_backend_buft_name(e) != b"AMX"]
    for i, entry in enumerate(kept):
        extra[i] = entry
    if len(kept) < len(entries):
        extra[len(kept)] = None
    return len(kept) < len(entries)


def prepare_llama_cpp(model_path: Path) -> None:
    """Call before loading a llama.cpp model in this process (idempotent, thread-safe)."""
    global _prepared
    with _lock:
        if _prepared:
            return
        if not amx_works(model_path):
            _drop_amx_buffer_type()
        _prepared = True

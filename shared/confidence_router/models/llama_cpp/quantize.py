"""Requantizing a GGUF once into the cache folder with llama.cpp's own quantizer.

Some quantization types have faster CPU kernels than others (llama.cpp repacks Q4_0 / Q8_0 /
K-quants into interleaved layouts for AVX2/AVX-512; it leaves Q5_0 as it is). The converted file
is named after the source's SHA-256 (the pinned one for a bundled model, else computed once and
remembered beside the cache keyed by path, size and modification time) and the target type, and
written under a temporary name first, so it is made once and never half-written.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
from pathlib import Path

import llama_cpp

from confidence_router.errors import ConfigurationError, ModelLoadError
from confidence_router.models.bundled import BUNDLED, cache_dir

FTYPES: dict[str, int] = {
    "q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0,
    "q4_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0,
    "q4_k_m": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M,
    "f16": llama_cpp.LLAMA_FTYPE_MOSTLY_F16,
    "bf16": llama_cpp.LLAMA_FTYPE_MOSTLY_BF16,
}
_INDEX = "gguf-sha256.json"


def _sha256(path: Path) -> str:
    """The file's SHA-256: the pinned one of a bundled model, else computed once and indexed."""
    stat = path.stat()
    for spec in BUNDLED.values():
        if spec.filename == path.name and spec.size == stat.st_size:
            return spec.sha256
    index_path = cache_dir() / _INDEX
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError):
        index = {}
    if key not in index:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while block := fh.read(1 << 22):
                digest.update(block)
        index[key] = digest.hexdigest()
        index_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = index_path.with_name(f"{index_path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(index, indent=1))
        os.replace(tmp, index_path)
    return str(index[key])


def requantized_path(source: Path, ftype: str, n_threads: int) -> Path:
    """`source` converted to `ftype` (e.g. "q8_0"), made once in the cache folder."""
    kind = ftype.lower()
    if kind not in FTYPES:
        raise ConfigurationError("requantize", f"unknown type {ftype!r}; known: {sorted(FTYPES)}")
    target = cache_dir() / f"{source.stem}.{_sha256(source)[:16]}.{kind}.gguf"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.partial")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = FTYPES[kind]
    params.nthread = n_threads
    params.allow_requantize = True
    try:
        code = llama_cpp.llama_model_quantize(
            str(source).encode(), str(tmp).encode(), ctypes.byref(params)
        )
        if code != 0 or not tmp.is_file():
            raise ModelLoadError(f"llama.cpp could not requantize {source} to {kind} ({code})")
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return target

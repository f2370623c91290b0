"""The default edge: llama.cpp in-process when `llama-cpp-python` is installed (the `[local]`
extra), else transformers; both on the same bundled GGUF (Qwen2.5-Coder-0.5B-Instruct)."""

from __future__ import annotations

import importlib.util
import os
from typing import Literal

from confidence_router.errors import ConfigurationError
from confidence_router.models.base import ChatBackend
from confidence_router.models.bundled import DEFAULT_EDGE

Runtime = Literal["auto", "llama_cpp", "transformers"]
RUNTIMES: tuple[str, ...] = ("auto", "llama_cpp", "transformers")


def default_runtime() -> Runtime:
    """`llama_cpp` when llama-cpp-python is importable, else `transformers`."""
    return "llama_cpp" if importlib.util.find_spec("llama_cpp") is not None else "transformers"


def load_edge(
    model: str | os.PathLike[str] | None = None, runtime: Runtime = "auto"
) -> ChatBackend:
    """An in-process edge on `model` (a bundled name, a GGUF file or, for transformers, a Hugging
    Face folder; default `DEFAULT_EDGE`) with `runtime` (`auto`: `default_runtime()`)."""
    if runtime not in RUNTIMES:
        allowed = ", ".join(RUNTIMES)
        raise ConfigurationError("runtime", f"must be one of {allowed}, got {runtime!r}")
    chosen = default_runtime() if runtime == "auto" else runtime
    if chosen == "llama_cpp":
        from confidence_router.models.llama_cpp import LlamaCppModel

        return LlamaCppModel(model or DEFAULT_EDGE)
    from confidence_router.models.transformers import TransformersModel

    return TransformersModel(model or DEFAULT_EDGE)

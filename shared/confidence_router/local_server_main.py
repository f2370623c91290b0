"""`python -m confidence_router.local_server_main --model PATH ...`: llama-cpp-python's
OpenAI-compatible server, after `prepare_llama_cpp` (see `models/ggml_cpu.py`) and with the
project's chat handler registered (`--chat_format confidence-router`, `local_chat_handler`).
The arguments are llama_cpp.server's own. `LlamaCppServer` starts it under the orphan guard."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from confidence_router.local_chat_handler import register
from confidence_router.models.ggml_cpu import prepare_llama_cpp


def _model_path(argv: list[str]) -> Path | None:
    for i, arg in enumerate(argv):
        if arg == "--model" and i + 1 < len(argv):
            return Path(argv[i + 1])
        if arg.startswith("--model="):
            return Path(arg.split("=", 1)[1])
    return None


def main() -> None:
    path = _model_path(sys.argv[1:])
    if path is not None:
        prepare_llama_cpp(path)
    register()  # `--chat_format confidence-router`
    sys.argv = ["llama_cpp.server", *sys.argv[1:]]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()

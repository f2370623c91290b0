"""In-process edge backend on llama.cpp's low-level API (`llama-cpp-python`)."""

from confidence_router.models.llama_cpp.model import LlamaCppModel

__all__ = ["LlamaCppModel"]

"""Model backends: in-process llama.cpp and transformers, any OpenAI-compatible server, bundled
model files."""

from confidence_router.models.base import Capabilities, ChatBackend
from confidence_router.models.bundled import BUNDLED, bundled_model_path, resolve_model_path
from confidence_router.models.chat_template import ChatTemplate
from confidence_router.models.default_edge import default_runtime, load_edge
from confidence_router.models.openai import OpenAIChatModel


def __getattr__(name: str) -> object:
    # transformers/torch import lazily: a cloud-only user never pays for them.
    if name == "TransformersModel":
        from confidence_router.models.transformers import TransformersModel

        return TransformersModel
    if name == "LlamaCppModel":
        from confidence_router.models.llama_cpp import LlamaCppModel

        return LlamaCppModel
    raise AttributeError(name)


__all__ = [
    "BUNDLED",
    "Capabilities",
    "ChatBackend",
    "ChatTemplate",
    "LlamaCppModel",
    "OpenAIChatModel",
    "TransformersModel",
    "bundled_model_path",
    "default_runtime",
    "load_edge",
    "resolve_model_path",
]

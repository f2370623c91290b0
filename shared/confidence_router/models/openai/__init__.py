"""Any OpenAI-compatible chat server as a backend: the cloud tier, or an edge with log-probs.

`model` holds the backend; `wire` builds request bodies, `retries` retries and translates
failures, `responses` and `logprobs` parse answers (`parse_logprobs` also serves the LangChain
adapter), `streaming` assembles streamed answers.
"""

from confidence_router.models.openai.logprobs import parse_logprobs, topk_entropy
from confidence_router.models.openai.model import OpenAIChatModel
from confidence_router.models.openai.retries import is_retryable, retry_after_seconds
from confidence_router.models.openai.streaming import StreamAssembler

__all__ = [
    "OpenAIChatModel",
    "StreamAssembler",
    "is_retryable",
    "parse_logprobs",
    "retry_after_seconds",
    "topk_entropy",
]

"""In-process edge backend over Hugging Face `transformers`: any local model folder or GGUF.

`model` holds the backend; `loading`, `admission` (the lock, batching), `decoding`, `hooks` (the
logits processors and stopping criteria), `answers` and `scoring` (P(True)) its parts.
"""

from confidence_router.models.transformers.admission import Request
from confidence_router.models.transformers.loading import DType
from confidence_router.models.transformers.model import TransformersModel

_Request = Request  # the name tests import

__all__ = ["DType", "Request", "TransformersModel", "_Request"]

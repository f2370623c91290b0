"""Re-export: `StreamAssembler` lives in `confidence_router.models.openai.streaming`."""

from confidence_router.models.openai.streaming import StreamAssembler

__all__ = ["StreamAssembler"]

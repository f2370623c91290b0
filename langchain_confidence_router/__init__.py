"""LangChain integration: `ChatConfidenceRouter`, a chat model that routes edge -> cloud."""

from langchain_confidence_router.backend import LangChainChatBackend
from langchain_confidence_router.chat_models import ChatConfidenceRouter
from langchain_confidence_router.decision import RoutingDecision

__all__ = ["ChatConfidenceRouter", "LangChainChatBackend", "RoutingDecision"]

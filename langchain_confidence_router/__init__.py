"""LangChain integration for confidence-router (the routed chat model lands here)."""

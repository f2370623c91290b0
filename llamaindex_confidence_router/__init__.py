"""LlamaIndex integration for confidence-router (the routed LLM lands here)."""

"""A cloud placeholder for edge-only work (calibration): it refuses to generate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from confidence_router.errors import BackendError
from confidence_router.generation import Generation, GenerationOptions
from confidence_router.messages import ChatMessage
from confidence_router.models.base import Capabilities, ChatBackend


class NoCloud(ChatBackend):
    """Stands in for the cloud where only edge scores are needed; any call is an error."""

    tier = "cloud"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(tools=True)

    @property
    def model_name(self) -> str:
        return "none"

    def generate(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Generation:
        raise BackendError("no cloud model is configured for this edge-only router", tier="cloud")

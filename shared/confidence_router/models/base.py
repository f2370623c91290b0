"""The backend protocol: messages (and tools) in, one `Generation` out."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from confidence_router.generation import Generation, GenerationOptions
from confidence_router.messages import ChatMessage
from confidence_router.secrets import secret_values
from confidence_router.statistics import Statistic


class Capabilities(BaseModel):
    """What a backend can supply; routers check it at construction."""

    model_config = ConfigDict(frozen=True)

    statistics: frozenset[Statistic] = frozenset()
    tools: bool = False
    context_window: int | None = None
    # Honours `GenerationOptions.early_exit_floor` (stops generating when the running confidence
    # falls below it); a router with early exit refuses an edge without it.
    early_exit: bool = False
    # Has `probability_of(messages, continuation)` (a `TokenProbabilityScorer`), so `PTrue` can
    # use it as its scorer.
    token_scoring: bool = False
    # Reads content beyond text (images, audio: `ChatMessage.parts`). A request with such
    # content skips an edge without it (reason `unsupported_content`).
    multimodal: bool = False
    # Enforces `GenerationOptions.response_format` itself (an OpenAI-compatible server); for
    # an edge without it the router adds the schema as an instruction and checks the answer.
    structured_output: bool = False
    # Honours `GenerationOptions.deadline` itself (stops or times out there). For a backend
    # without it, the router enforces the deadline around the call (the call may go on in the
    # background, its result discarded).
    deadline: bool = False

    def missing(self, needed: frozenset[Statistic]) -> frozenset[Statistic]:
        return needed - self.statistics


_B = TypeVar("_B", bound="ChatBackend")


@dataclass(frozen=True)
class StreamChunk:
    """A piece of a streamed answer; the last chunk carries the whole `generation` instead."""

    text: str = ""
    generation: Generation | None = None


class ChatBackend(ABC):
    """A chat model that returns one generation's text and statistics."""

    tier: str = "edge"

    @property
    @abstractmethod
    def capabilities(self) -> Capabilities: ...

    @property
    @abstractmethod
    def model_name(self) -> str: ...

    @abstractmethod
    def generate(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Generation:
        """Generate the greedy answer (and `options.num_samples` samples) for a conversation."""

    async def agenerate(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Generation:
        """Async form; by default runs `generate` in a worker thread."""
        return await asyncio.to_thread(self.generate, messages, options, tools)

    def stream(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Iterator[StreamChunk]:
        """Text as it is generated, then the full generation. By default: all at once."""
        generation = self.generate(messages, options, tools)
        if generation.text:
            yield StreamChunk(text=generation.text)
        yield StreamChunk(generation=generation)

    async def astream(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> AsyncIterator[StreamChunk]:
        """Async `stream`."""
        generation = await self.agenerate(messages, options, tools)
        if generation.text:
            yield StreamChunk(text=generation.text)
        yield StreamChunk(generation=generation)

    def secret_values(self) -> list[str]:
        """Secrets this backend holds (API keys), masked in every record and error."""
        return secret_values(self)

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int | None:
        """Prompt tokens for a conversation, when the backend can count them offline."""
        return None

    def close(self) -> None:  # noqa: B027 - optional: most backends hold nothing to release
        """Release what the backend holds (worker threads, connections). Idempotent."""

    def __enter__(self: _B) -> _B:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""The vocabulary of a request plan: the steps it yields to a driver, and the streamed chunk.

A plan (`plan.py`) is a generator: it yields a `BackendCall` (a generation for the driver to
run, with its deadline) or a `Compute` (work that may call a model or block: scoring with P(True)
or an LLM judge, a predictor's embedding), and receives the result. The sync driver runs both
inline; the async driver awaits backend calls and runs `Compute` steps in a worker thread, so an
event loop is never blocked (`drivers.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from confidence_router.generation import Generation, GenerationOptions
from confidence_router.messages import ChatMessage
from confidence_router.models.base import ChatBackend
from confidence_router.routing.decision import RoutedResponse

if TYPE_CHECKING:
    from confidence_router.routing.decision_rule import Decider


@dataclass(frozen=True)
class Request:
    """A validated request: conversation, tools, decision rule and per-call settings."""

    messages: list[ChatMessage]
    tools: list[dict[str, Any]]
    rule: Decider
    tool_choice: str | None = None
    max_new_tokens: int | None = None
    stop: Sequence[str] | None = None
    deadline_s: float | None = None
    response_format: dict[str, Any] | None = None
    conversation_id: str | None = None


@dataclass(frozen=True)
class BackendCall:
    """One generation a routing plan asks its driver to run."""

    backend: ChatBackend
    messages: list[ChatMessage]
    options: GenerationOptions
    tools: list[dict[str, Any]]
    tier: str = "edge"  # which tier this call is for: one backend may serve both


@dataclass(frozen=True)
class Compute:
    """Work a plan needs done that may block (a model call, I/O): its result is sent back."""

    run: Callable[[], Any]


Step = BackendCall | Compute
StepResult = Generation | Any


@dataclass(frozen=True)
class RouteChunk:
    """A piece of a streamed routed answer; the last one carries the full `response`."""

    text: str = ""
    response: RoutedResponse | None = None

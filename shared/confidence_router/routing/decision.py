"""The one decision record that travels everywhere: core, adapters, reports, metadata."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from confidence_router.generation import Generation, Usage
from confidence_router.messages import ToolCall
from confidence_router.routing.decision_rule import DecisionRule, escalates

__all__ = [
    "EDGE_REASONS",
    "DecisionRule",
    "Latency",
    "Pricing",
    "Reason",
    "RoutedResponse",
    "escalates",
]

Tier = Literal["edge", "cloud"]
Stage = Literal["cheap", "full"]


class Reason(StrEnum):
    """Why a request ended where it did."""

    CONFIDENT = "confident"  # edge confidence >= threshold (staged: or cheap confidence >= band)
    LOW_CONFIDENCE = "low_confidence"  # edge confidence < threshold (staged: or below the band)
    EARLY_EXIT = "early_exit"  # the running confidence fell below the floor while generating
    EDGE_NO_TOOLS = "edge_no_tools"  # tools were bound and the edge cannot call tools
    PROMPT_TOO_LONG = "prompt_too_long"  # the prompt does not fit the edge's context window
    UNSUPPORTED_CONTENT = "unsupported_content"  # content the edge cannot read (e.g. an image)
    EMPTY_EDGE_ANSWER = "empty_edge_answer"  # the edge produced no tokens to score
    INVALID_TOOL_CALL = "invalid_tool_call"  # the edge's tool call is unreadable or off-schema
    REPEATED_TOOL_CALL = "repeated_tool_call"  # the edge repeats a call already answered
    NO_TOOL_CALL = "no_tool_call"  # tool_choice asked for a tool call and the edge answered in text
    INVALID_OUTPUT = "invalid_output"  # the edge's answer does not fit response_format
    EDGE_FAILED = "edge_failed"  # the edge raised (generation error, out of memory, server down)
    EDGE_TIMEOUT = "edge_timeout"  # the edge did not finish before its deadline
    PREDICTED_CLOUD = (
        "predicted_cloud"  # a predictive router sent it to the cloud before generating
    )
    PREDICTED_EDGE = "predicted_edge"  # a predictive router kept it at the edge before generating
    STICKY = "sticky"  # the conversation escalated past this tier before (sticky routing)


# Reasons for which the edge's answer is the answer (every other reason escalates).
EDGE_REASONS = frozenset({Reason.CONFIDENT, Reason.PREDICTED_EDGE})


class Pricing(BaseModel):
    """Price of one tier in currency units per million tokens."""

    model_config = ConfigDict(frozen=True)

    input_per_million: float = Field(default=0.0, ge=0.0)
    output_per_million: float = Field(default=0.0, ge=0.0)

    def cost(self, usage: Usage) -> float:
        return (
            usage.input_tokens * self.input_per_million
            + usage.output_tokens * self.output_per_million
        ) / 1e6


class Latency(BaseModel):
    """Wall time in seconds: edge time counts on escalated requests too."""

    model_config = ConfigDict(frozen=True)

    edge_s: float = 0.0
    cloud_s: float = 0.0
    total_s: float = 0.0


class TierStep(BaseModel):
    """One tier a request visited: its model, what it scored and why it passed or answered."""

    model_config = ConfigDict(frozen=True)

    index: int
    model: str
    answered: bool
    reason: Reason | None = None  # why it passed the request on (None: it answered)
    confidence: float | None = None
    scores: dict[str, float] = Field(default_factory=dict)
    usage: Usage = Field(default_factory=Usage)
    latency_s: float = 0.0


class RoutedResponse(BaseModel):
    """The answer and the full record of how it was produced.

    `estimator` names the estimator whose `confidence` decided ("running_confidence" on an early
    exit). `stage` says which stage of staged escalation decided: "cheap" (the stage estimator,
    outside the band), "full" (the deciding estimator, after the samples); None when the router is
    not staged or the request ended before scoring. `scores` holds every score computed.
    `edge_tokens`: tokens of the edge's greedy answer (up to the exit on an early exit).
    """

    model_config = ConfigDict(frozen=True)

    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    route: Tier
    reason: Reason
    confidence: float | None = None
    scores: dict[str, float] = Field(default_factory=dict)
    estimator: str | None = None
    threshold: float
    rule: DecisionRule | None = None  # the full rule when it settles ties (see DecisionRule)
    stage: Stage | None = None
    band: tuple[float, float] | None = None
    edge_tokens: int = 0
    latency: Latency = Field(default_factory=Latency)
    usage: dict[str, Usage] = Field(default_factory=dict)
    cost: float = 0.0
    edge_model: str = ""
    cloud_model: str = ""
    edge_text: str | None = None
    finish_reason: str = "stop"
    # The cloud could not answer and this is the edge's answer instead (`FailurePolicy`):
    # `degraded_reason` is "cloud_unavailable", "cloud_rejected", "circuit_open" or
    # "deadline_exceeded". `error` describes the failure behind `degraded` or `edge_failed`
    # (secrets masked).
    degraded: bool = False
    degraded_reason: str | None = None
    error: str | None = None
    # Which tier answered: 0 the first (`route` "edge"), 1 the next, ... (`tiered`: N tiers),
    # its model, and every tier the request visited; `sticky`: the conversation's earlier
    # escalation decided (`StickyRouting`).
    tier_index: int = 0
    tier: str = ""
    tiers: tuple[TierStep, ...] = ()
    sticky: bool = False

    @property
    def escalated(self) -> bool:
        return self.route == "cloud"

    @property
    def total_usage(self) -> Usage:
        total = Usage()
        for usage in self.usage.values():
            total = total + usage
        return total

    def decision(self) -> dict[str, Any]:
        """The routing decision without the answer text, JSON-ready (for metadata and logs)."""
        data = self.model_dump(mode="json", exclude={"text", "tool_calls"})
        return data


@dataclass(frozen=True)
class RoutedGeneration(Generation):
    """A generation answered by a router used as a tier (`tiered`), with that router's record."""

    routed: RoutedResponse | None = None

"""The routing policy: a frozen value holding every decision setting of a router.

It says what to ask the edge for (`edge_options`, `sample_options`), how to score its answer
(`scorable`, `scores`, `score`) and what the score means (`outcome`). It holds no model and no
state: a router (`CascadeRouter`) pairs one with its tiers, failure policy and breaker, and
`with_*` copies a router with a changed policy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from confidence_router.errors import CapabilityError, ConfigurationError, InvalidInputError
from confidence_router.generation import Generation, GenerationOptions
from confidence_router.messages import ChatMessage
from confidence_router.models.base import ChatBackend
from confidence_router.routing.checks import (
    Band,
    check_band,
    check_temperature,
    check_threshold,
    check_tokens,
)
from confidence_router.routing.decision import Reason
from confidence_router.routing.decision_rule import Decider, as_rule, request_key
from confidence_router.routing.structured_output import output_problem
from confidence_router.running_confidence import RunningConfidence
from confidence_router.statistics import Statistic
from confidence_router.tools.parsing import attempted_tool_call, tool_names
from confidence_router.tools.validation import repeats_an_answered_call, tool_call_problem
from confidence_router.uncertainty import Estimator, MaxSequenceProbability, get_estimator
from confidence_router.uncertainty.base import score_keys
from confidence_router.uncertainty.statistics import RequestStatistics

if TYPE_CHECKING:
    from confidence_router.routing.assessment import EdgeAssessment


def bind_estimator(value: Estimator | str, edge: ChatBackend) -> Estimator:
    """An estimator by name or instance, bound to the edge (see `Estimator.bind`)."""
    if isinstance(value, str):
        value = get_estimator(value)
    if not isinstance(value, Estimator):
        raise ConfigurationError("estimator", f"expected an Estimator, got {value!r}")
    return value.bind(edge)


@dataclass(frozen=True)
class RoutingPolicy:
    """Estimators (bound to the edge), staging band, decision rule, early exit, token caps and
    sampling temperature. Build one with `RoutingPolicy.build`; change one with `changed`."""

    estimator: Estimator
    extra_estimators: tuple[Estimator, ...]
    stage_estimator: Estimator
    band: Band | None
    rule: Decider
    early_exit_floor: float | None
    early_exit_min_tokens: int
    early_exit_window: int | None
    max_new_tokens: int
    cloud_max_new_tokens: int
    temperature: float
    keys: Mapping[int, str] = field(default_factory=dict, compare=False)

    @classmethod
    def build(
        cls,
        edge: ChatBackend,
        *,
        estimator: Estimator | str | None = None,
        threshold: float | Decider = 0.5,
        extra_estimators: Sequence[Estimator | str] = (),
        max_new_tokens: int = 512,
        cloud_max_new_tokens: int | None = None,
        temperature: float = 1.0,
        stage_estimator: Estimator | str | None = None,
        band: tuple[float, float] | None = None,
        early_exit_floor: float | None = None,
        early_exit_min_tokens: int = 4,
        early_exit_window: int | None = None,
    ) -> RoutingPolicy:
        """A validated policy for `edge` (the settings are `CascadeRouter`'s)."""
        stage = bind_estimator(stage_estimator or MaxSequenceProbability(), edge)
        if stage.needs_samples:
            raise ConfigurationError(
                "stage_estimator", f"must score the greedy answer alone, got {stage}"
            )
        tokens = check_tokens(max_new_tokens, "max_new_tokens")
        assert tokens is not None
        policy = cls(
            estimator=bind_estimator(estimator or MaxSequenceProbability(), edge),
            extra_estimators=tuple(bind_estimator(e, edge) for e in extra_estimators),
            stage_estimator=stage,
            band=check_band(band),
            rule=as_rule(threshold),
            early_exit_floor=None
            if early_exit_floor is None
            else check_threshold(early_exit_floor, "early_exit_floor"),
            early_exit_min_tokens=early_exit_min_tokens,
            early_exit_window=early_exit_window,
            max_new_tokens=tokens,
            cloud_max_new_tokens=check_tokens(
                cloud_max_new_tokens, "cloud_max_new_tokens", optional=True
            )
            or tokens,
            temperature=check_temperature(temperature),
        )
        return policy.checked(edge)

    def checked(self, edge: ChatBackend) -> RoutingPolicy:
        """This policy with its score keys, once the edge and the rule are known to fit it."""
        # validates the early-exit settings with the fields named
        RunningConfidence(
            self.early_exit_floor, min_tokens=self.early_exit_min_tokens,
            window=self.early_exit_window,
        )  # fmt: skip
        caps = edge.capabilities
        missing = caps.missing(self.required_statistics)
        if missing:
            names = ", ".join(sorted(s.value for s in missing))
            raise CapabilityError(
                f"the edge model {edge.model_name!r} cannot supply {names}, which the "
                f"configured estimators need (e.g. enable log-probs on an OpenAI-compatible edge)"
            )
        if self.early_exit_floor is not None and not caps.early_exit:
            raise CapabilityError(
                f"the edge model {edge.model_name!r} cannot stop its generation early "
                f"(early_exit_floor); use an in-process edge (LlamaCppModel, TransformersModel) "
                "or leave it None"
            )
        keys = score_keys([*self.estimators, self.stage_estimator])
        tie = self.rule.tie_estimator
        if tie is not None and tie not in keys.values():
            raise ConfigurationError(
                "threshold",
                f"the rule breaks ties by {tie!r}, which this router does not score; "
                f"scored: {', '.join(sorted(set(keys.values())))}",
            )
        return replace(self, keys=keys)

    def changed(self, edge: ChatBackend, **changes: Any) -> RoutingPolicy:
        """A copy with `changes` (validated like `build`'s settings)."""
        if "rule" in changes:
            changes["rule"] = as_rule(changes["rule"])
        if "band" in changes:
            changes["band"] = check_band(changes["band"])
        if changes.get("early_exit_floor") is not None:
            changes["early_exit_floor"] = check_threshold(
                changes["early_exit_floor"], "early_exit_floor"
            )
        known = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ConfigurationError(",".join(sorted(unknown)), "not a routing policy setting")
        return replace(self, **changes).checked(edge)

    # -- what the estimators need --------------------------------------------------------------

    @property
    def estimators(self) -> list[Estimator]:
        """The deciding estimator and the extra ones (not the stage estimator)."""
        return [self.estimator, *self.extra_estimators]

    @property
    def staged(self) -> bool:
        return self.band is not None

    @property
    def all_estimators(self) -> list[Estimator]:
        """Every estimator scored on some request: the stage estimator first when staged."""
        return [self.stage_estimator, *self.estimators] if self.staged else self.estimators

    @property
    def required_statistics(self) -> frozenset[Statistic]:
        needed: frozenset[Statistic] = frozenset()
        for est in self.all_estimators:
            needed |= est.requires
        return needed

    @property
    def num_samples(self) -> int:
        """Samples per request when the samples are generated."""
        return max((e.num_samples for e in self.all_estimators), default=0)

    @property
    def hidden_layer(self) -> int:
        """The layer whose hidden states the estimators read (the first that reads any)."""
        readers = [e for e in self.all_estimators if Statistic.HIDDEN_STATES in e.requires]
        return readers[0].hidden_layer if readers else -1

    def key(self, estimator: Estimator) -> str:
        """The key `estimator`'s score is recorded under in `scores` (see `score_keys`)."""
        return self.keys[id(estimator)]

    # -- what to generate ----------------------------------------------------------------------

    def edge_options(
        self,
        max_new_tokens: int | None = None,
        stop: Sequence[str] | None = None,
        tool_choice: str | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> GenerationOptions:
        """The (first) edge call: the greedy answer with every statistic the estimators need,
        with the samples unless staged, and the early-exit settings."""
        needed = self.required_statistics
        return GenerationOptions(
            max_new_tokens=max_new_tokens or self.max_new_tokens,
            logprobs=bool({Statistic.GREEDY_LOGPROBS, Statistic.SAMPLE_LOGPROBS} & needed),
            entropy=Statistic.GREEDY_ENTROPY in needed,
            hidden_states=Statistic.HIDDEN_STATES in needed,
            hidden_layer=self.hidden_layer,
            num_samples=0 if self.staged else self.num_samples,
            temperature=self.temperature,
            stop=tuple(stop or ()),
            tool_choice=tool_choice,
            response_format=response_format,
            early_exit_floor=self.early_exit_floor,
            early_exit_min_tokens=self.early_exit_min_tokens,
            early_exit_window=self.early_exit_window,
        )

    def sample_options(
        self,
        max_new_tokens: int | None = None,
        stop: Sequence[str] | None = None,
        tool_choice: str | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> GenerationOptions:
        """The full stage's second edge call: the samples only."""
        first = self.edge_options(max_new_tokens, stop, tool_choice, response_format)
        return first.model_copy(
            update={
                "num_samples": self.num_samples,
                "samples_only": True,
                "early_exit_floor": None,
                "hidden_states": False,  # the greedy answer's states came with the first call
            }
        )

    def cloud_options(
        self,
        max_new_tokens: int | None = None,
        stop: Sequence[str] | None = None,
        tool_choice: str | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> GenerationOptions:
        return GenerationOptions(
            max_new_tokens=max_new_tokens or self.cloud_max_new_tokens,
            stop=tuple(stop or ()),
            tool_choice=tool_choice,
            response_format=response_format,
        )

    # -- scoring and the decision --------------------------------------------------------------

    @staticmethod
    def scorable(
        generation: Generation,
        tools: list[dict[str, Any]],
        tool_choice: str | None,
        response_format: dict[str, Any] | None = None,
        messages: Sequence[ChatMessage] = (),
    ) -> tuple[Generation, Reason | None]:
        """The generation to score, or why the edge answer cannot be scored. A tool call (or a
        ReAct step) is scored on the tokens of its tool name and argument values only, and a
        call must fit the tool's schema (and `tool_choice`) and must not repeat a call that
        `messages` already answered; text that begins as a call but does not parse (cut off,
        broken) is an invalid call; an answer under `response_format` must fit it."""
        greedy = generation.greedy
        if tool_choice is not None and not greedy.tool_calls:
            return generation, Reason.NO_TOOL_CALL
        if not greedy.text.strip() and not greedy.tool_calls:
            return generation, Reason.EMPTY_EDGE_ANSWER
        form = response_format
        if form is not None and not greedy.tool_calls and output_problem(greedy.text, form):
            return generation, Reason.INVALID_OUTPUT
        if greedy.tool_calls and any(tool_call_problem(c, tools) for c in greedy.tool_calls):
            return generation, Reason.INVALID_TOOL_CALL
        if tools and not greedy.tool_calls and attempted_tool_call(greedy.text, tool_names(tools)):
            return generation, Reason.INVALID_TOOL_CALL
        if greedy.tool_calls and repeats_an_answered_call(greedy.tool_calls, messages):
            return generation, Reason.REPEATED_TOOL_CALL
        if any(greedy.focus):
            generation = replace(generation, greedy=greedy.focused())
        return generation, None

    def scores(
        self,
        messages: list[ChatMessage],
        generation: Generation,
        estimators: Sequence[Estimator],
    ) -> dict[str, float] | None:
        """Each estimator's confidence (keyed by `key`; one request's statistics shared), or
        None when the answer has nothing to score. May call models (P(True), LLM judges)."""
        stats = RequestStatistics(messages, generation)
        try:
            return {self.key(e): e.confidence(stats) for e in estimators}
        except InvalidInputError:
            return None

    def score(
        self,
        messages: list[ChatMessage],
        generation: Generation,
        tools: list[dict[str, Any]],
        tool_choice: str | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> tuple[float, dict[str, float], Reason | None]:
        """Confidence of the edge answer with every (non-stage) estimator, in one stage."""
        generation, failed = self.scorable(
            generation, tools, tool_choice, response_format, messages
        )
        scores = None if failed else self.scores(messages, generation, self.estimators)
        if scores is None:
            return 0.0, {}, failed or Reason.EMPTY_EDGE_ANSWER
        return scores[self.key(self.estimator)], scores, None

    def outcome(self, assessment: EdgeAssessment, rule: Decider | None = None) -> Reason:
        """Why this assessment stays at the edge or escalates: a decision made while assessing
        (`EdgeAssessment.reason`) stands; else the decision rule's (this policy's, or `rule`)."""
        if assessment.reason is not None:
            return assessment.reason
        decider = self.rule if rule is None else rule
        key = request_key(assessment.messages)
        if decider.escalates(assessment.confidence, assessment.scores, key):
            return Reason.LOW_CONFIDENCE
        return Reason.CONFIDENT

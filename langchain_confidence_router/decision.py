"""A decision-only Runnable: runs the edge and scores it, returns the routing decision."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import LanguageModelInput
from langchain_core.runnables import RunnableConfig, RunnableSerializable

from confidence_router.routing.decision import EDGE_REASONS
from langchain_confidence_router.chat_models import ChatConfidenceRouter
from langchain_confidence_router.messages import to_core_messages


class RoutingDecision(RunnableSerializable[LanguageModelInput, dict[str, Any]]):
    """Returns `{"route", "reason", "confidence", "scores", "threshold", "edge_answer"}` without
    calling the cloud, for `RunnableBranch`-style pipelines (the threshold can be set per call:
    `.invoke(x, config={"configurable": {"threshold": 0.7}})` when made configurable)."""

    model: ChatConfidenceRouter
    threshold: float | None = None

    def invoke(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return self._call_with_config(self._decide, input, config, **kwargs)

    async def ainvoke(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return await self._acall_with_config(self._adecide, input, config, **kwargs)

    def _messages(self, input: LanguageModelInput) -> list[dict[str, Any]]:
        return to_core_messages(self.model._convert_input(input).to_messages())

    def _record(self, assessment: Any) -> dict[str, Any]:
        router = self.model.router
        rule = router.rule if self.threshold is None else self.threshold
        reason = router.outcome(assessment, rule)
        return {
            "route": "edge" if reason in EDGE_REASONS else "cloud",
            "reason": reason.value,
            "confidence": assessment.confidence,
            "scores": assessment.scores,
            "threshold": router.threshold if self.threshold is None else self.threshold,
            "edge_answer": assessment.generation.text,
        }

    def _decide(self, input: LanguageModelInput) -> dict[str, Any]:
        return self._record(self.model.router.assess(self._messages(input)))

    async def _adecide(self, input: LanguageModelInput) -> dict[str, Any]:
        return self._record(await self.model.router.aassess(self._messages(input)))

"""Hand-made generations and a scripted backend for pure routing-logic tests."""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from confidence_router.generation import Answer, Generation, GenerationOptions, Usage
from confidence_router.messages import ChatMessage
from confidence_router.models.base import Capabilities, ChatBackend
from confidence_router.uncertainty import RequestStatistics, Statistic


def generation(
    logprobs: Sequence[float],
    entropies: Sequence[float] = (),
    text: str = "x",
    finish_reason: str = "stop",
) -> Generation:
    answer = Answer(
        text=text,
        token_ids=tuple(range(len(logprobs))),
        token_logprobs=tuple(logprobs),
        token_entropies=tuple(entropies),
        finish_reason=finish_reason,
    )
    return Generation(greedy=answer, usage=Usage(input_tokens=5, output_tokens=len(logprobs)))


def stats(logprobs: Sequence[float], entropies: Sequence[float] = ()) -> RequestStatistics:
    return RequestStatistics(
        [ChatMessage(role="user", content="q")], generation(logprobs, entropies)
    )


class ScriptedBackend(ChatBackend):
    """Returns prepared generations in order and records what it was asked (logic tests only).
    An exception among the outputs is raised instead (fault injection for the routing logic);
    `delay` seconds pass before each answer."""

    def __init__(
        self,
        outputs: Sequence[Generation | BaseException],
        *,
        stats: frozenset[Statistic] | None = None,
        tools: bool = False,
        name: str = "scripted",
        early_exit: bool = False,
        delay: float = 0.0,
    ) -> None:
        self.outputs = list(outputs)
        self.delay = delay
        self.calls: list[tuple[list[ChatMessage], GenerationOptions, Any]] = []
        self._caps = Capabilities(
            statistics=frozenset(Statistic) if stats is None else stats,
            tools=tools,
            early_exit=early_exit,
        )
        self._name = name

    @property
    def capabilities(self) -> Capabilities:
        return self._caps

    @property
    def model_name(self) -> str:
        return self._name

    def generate(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Generation:
        self.calls.append((list(messages), options or GenerationOptions(), tools))
        if self.delay:
            time.sleep(self.delay)
        out = self.outputs.pop(0)
        if isinstance(out, BaseException):
            raise out
        return out


def samples(*texts: str, tokens: int = 2) -> Generation:
    """A samples-only generation (what the staged router's second edge call returns)."""
    answers = tuple(
        Answer(text=t, token_ids=(1,) * tokens, token_logprobs=(-0.1,) * tokens) for t in texts
    )
    return Generation(
        greedy=Answer(text=""),
        samples=answers,
        usage=Usage(input_tokens=5, output_tokens=tokens * len(texts)),
    )


def load_script(path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A script (a benchmark, an example) imported from its file; `sys.path` restored after."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

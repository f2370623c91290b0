"""ReAct steps are scored on their `Action` / `Action Input` tokens, as structured tool calls
are on their name and argument values (the thought around them does not decide)."""

from __future__ import annotations

import math

import pytest

from confidence_router import CascadeRouter, Reason
from confidence_router.generation import Answer, Generation, Usage
from confidence_router.tools.parsing import answer_focus, react_spans

from .helpers import ScriptedBackend, generation

STEP = (
    "Thought: I need to multiply the numbers, and I am really not sure how to phrase this.\n"
    "Action: multiply\n"
    'Action Input: {"a": 17, "b": 23}'
)


def test_react_spans_pick_the_action_and_the_input_values() -> None:
    spans = react_spans(STEP)
    assert [STEP[s:e] for s, e in spans] == ["multiply", "17", "23"]
    free = "Action: search\nAction Input: capital of Peru"
    assert [free[s:e] for s, e in react_spans(free)] == ["search", "capital of Peru"]
    assert react_spans("Thought: I can answer.\nAnswer: 391") == []


def test_answer_focus_marks_the_tokens_over_those_spans() -> None:
    pieces = ["Thought:", " unsure", "\nAction:", " multiply", "\nAction Input:", ' {"a": ', "17"]
    pieces += [', "b": ', "23", "}"]
    raw = "".join(pieces)
    ends = [len("".join(pieces[: i + 1])) for i in range(len(pieces))]
    mask = answer_focus(raw, ends, ())
    assert [p for p, keep in zip(pieces, mask, strict=True) if keep] == [" multiply", "17", "23"]


def test_a_react_step_is_scored_on_its_action_tokens_only() -> None:
    # the thought's tokens are unsure (p = 0.1), the action's sure (p = 0.9)
    logprobs = [math.log(0.1)] * 6 + [math.log(0.9)] * 3
    focus = (False,) * 6 + (True,) * 3
    answer = Answer(
        text=STEP,
        token_ids=tuple(range(9)),
        token_logprobs=tuple(logprobs),
        focus=focus,
    )
    step = Generation(greedy=answer, usage=Usage(input_tokens=5, output_tokens=9))
    router = CascadeRouter(ScriptedBackend([step]), ScriptedBackend([generation([])]))
    response = router.route("q")
    assert response.route == "edge" and response.reason is Reason.CONFIDENT
    assert response.confidence == pytest.approx(0.9)

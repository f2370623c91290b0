"""LLM-as-a-judge through any OpenAI-compatible chat model: MT-Bench single-answer grading
(FastChat's prompts from the data kit) and the paper's pick-the-best judge.

Verdicts are parsed strictly: a rating is accepted only in FastChat's `[[n]]` form with one
value in [1, 10]; a best-answer pick only as `[[i, j, ...]]` with valid answer numbers. Anything
else is recorded as unparseable (`Verdict.parsed` False, the raw text kept), never guessed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from confidence_router.errors import ConfigurationError, InvalidInputError
from confidence_router.evaluation.data import EvalItem, _find, _open, datasets_root
from confidence_router.generation import GenerationOptions
from confidence_router.messages import ChatMessage
from confidence_router.models.base import ChatBackend

NEEDS_REFERENCE = frozenset({"math", "reasoning", "coding"})  # FastChat's reference categories
_RATING = re.compile(r"\[\[\s*(\d+(?:\.\d+)?)\s*\]\]")
_PICK = re.compile(r"\[\[\s*(\d+(?:\s*,\s*\d+)*)\s*\]\]")
BEST_PROMPT = (
    "You are comparing answers to a question. Using the reference answer, decide which of the "
    "numbered answers are the best ones (several if they are equally good). Explain briefly, "
    "then give the numbers of the best answers in the form [[1]] or [[1, 3]].\n\n"
    "[Question]\n{question}\n\n[Reference Answer]\n{reference}\n\n{answers}"
)


@dataclass(frozen=True)
class JudgePrompt:
    name: str
    system_prompt: str
    prompt_template: str


@dataclass(frozen=True)
class Verdict:
    """A judge's answer: `score` (a 1-10 rating) or `best` (1-based answer numbers) when it
    parsed; `raw` is always kept."""

    raw: str
    parsed: bool
    score: float | None = None
    best: tuple[int, ...] = ()
    prompt_name: str = ""


def parse_rating(text: str) -> float | None:
    """The `[[n]]` rating, n in [1, 10]; None when absent, out of range, or ambiguous (two
    different ratings)."""
    values = {float(m) for m in _RATING.findall(text)}
    if len(values) != 1:
        return None
    (value,) = values
    return value if 1.0 <= value <= 10.0 else None


def parse_best(text: str, count: int) -> tuple[int, ...] | None:
    """The `[[i, j]]` pick of 1-based answer numbers in [1, count]; None when absent, invalid,
    or ambiguous (two different picks)."""
    picks = {tuple(sorted({int(x) for x in m.split(",")})) for m in _PICK.findall(text)}
    if len(picks) != 1:
        return None
    (pick,) = picks
    return pick if pick and all(1 <= i <= count for i in pick) else None


BUNDLED_PROMPTS = Path(__file__).with_name("data_files") / "judge_prompts.jsonl"


def load_judge_prompts(root: str | os.PathLike[str] | None = None) -> dict[str, JudgePrompt]:
    """FastChat's judge prompts by name: the data kit's `mt_bench/judge_prompts.jsonl` when a
    data folder is found, else the copy shipped with the package (Apache-2.0, see NOTICE.md)."""
    try:
        path = _find(datasets_root(root) / "mt_bench", "judge_prompts.jsonl")
    except ConfigurationError:
        if root is not None:
            raise
        path = BUNDLED_PROMPTS
    prompts: dict[str, JudgePrompt] = {}
    with _open(path) as f:
        for line in f:
            row = json.loads(line)
            prompts[row["name"]] = JudgePrompt(
                row["name"], row["system_prompt"], row["prompt_template"]
            )
    return prompts


class Judge:
    """A judge model (any `ChatBackend`, e.g. `OpenAIChatModel` against a local server) and
    FastChat's prompts (`load_judge_prompts()` by default)."""

    def __init__(
        self,
        model: ChatBackend,
        prompts: dict[str, JudgePrompt] | None = None,
        *,
        max_new_tokens: int = 512,
    ) -> None:
        self.model = model
        self.prompts = prompts if prompts is not None else load_judge_prompts()
        for name in ("single-v1", "single-math-v1"):
            if name not in self.prompts:
                raise ConfigurationError("prompts", f"the judge prompt {name!r} is missing")
        self.max_new_tokens = max_new_tokens

    def _ask(self, system: str, user: str) -> str:
        messages = [
            ChatMessage(role="system", content=system),
            ChatMessage(role="user", content=user),
        ]
        options = GenerationOptions(max_new_tokens=self.max_new_tokens)
        return self.model.generate(messages, options).text

    def rate(self, item: EvalItem, answer: str) -> Verdict:
        """MT-Bench single-answer grading of the first turn's `answer` (1-10); math, reasoning
        and coding questions are graded against their reference answer."""
        with_reference = item.category in NEEDS_REFERENCE and item.reference is not None
        prompt = self.prompts["single-math-v1" if with_reference else "single-v1"]
        fields = {"question": item.prompt, "answer": answer, "ref_answer_1": item.reference or ""}
        raw = self._ask(prompt.system_prompt, prompt.prompt_template.format(**fields))
        score = parse_rating(raw)
        return Verdict(raw, score is not None, score=score, prompt_name=prompt.name)

    def pick_best(self, question: str, reference: str, answers: Sequence[str]) -> Verdict:
        """The paper's judge: which of several systems' answers are the best, given the
        reference (1-based numbers)."""
        if len(answers) < 2:
            raise InvalidInputError("pick_best needs at least two answers")
        listed = "\n\n".join(
            f"[Answer {i}]\n{text}\n[End of Answer {i}]" for i, text in enumerate(answers, 1)
        )
        user = BEST_PROMPT.format(question=question, reference=reference, answers=listed)
        raw = self._ask("You are a helpful and impartial judge.", user)
        best = parse_best(raw, len(answers))
        return Verdict(raw, best is not None, best=best or (), prompt_name="pick-best")

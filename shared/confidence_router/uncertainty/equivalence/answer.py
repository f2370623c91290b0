"""Equivalence of final answers: the same number (math) or the same option letter (multiple
choice)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import ClassVar, Literal

from confidence_router.errors import ConfigurationError
from confidence_router.uncertainty.equivalence.base import Equivalence
from confidence_router.uncertainty.equivalence.registry import register_equivalence

AnswerKind = Literal["number", "choice", "auto"]
KINDS: tuple[str, ...] = ("number", "choice", "auto")

# A number: optional sign (not after a word character: "5-3" is 5 and 3), optional "$", digits
# with optional thousands separators, an optional decimal part, an optional "/denominator".
_NUMBER = re.compile(
    r"(?P<sign>(?<![\w.])-)?\$?\s?"
    r"(?P<int>\d{1,3}(?:,\d{3})+|\d+)?(?P<frac>\.\d+)?(?:/(?P<den>\d+))?"
)
# Markers after which the final answer follows, strongest first, and whether the number must come
# right after the marker ("The answer to question 3 is 42" does not state 3 as the answer).
_NUMBER_MARKERS = (
    (re.compile(r"####\s*(?P<rest>[^\n]*)"), False),
    (re.compile(r"\\boxed\{(?P<rest>[^}]*)\}"), False),
    (
        re.compile(
            r"\banswer\b(?:\s+(?:is|would be|will be|should be))?\s*[:=]?\s*(?:\*\*)?"
            r"(?P<rest>[^\n]*)",
            re.IGNORECASE,
        ),
        True,
    ),
)
_LETTER = r"(?P<letter>[A-Ja-j])"
# Explicit answer statements: "Answer: B", "the answer is (b)", "The correct option is b".
_CHOICE_MARKERS = re.compile(
    r"(?:\banswer\b|\b(?:option|choice)\b)\s*(?:is|would be|=|:)?\s*[:=]?\s*"
    r"(?:option\s+|choice\s+)?(?P<open>\()?" + _LETTER + r"(?P<close>\))?(?P<next>.?)",
    re.IGNORECASE,
)
_LEADING_CHOICE = re.compile(r"^\s*(?:\*\*)?\(?(?P<letter>[A-J])(?:\)|\.|:|\*\*)(?=\s|$)")
_ONLY_LETTER = re.compile(r"^\s*\(?(?P<letter>[A-Ja-j])\)?\s*[.!]?\s*$")
_PAREN_CHOICE = re.compile(r"\((?P<letter>[A-J])\)")
# Option lists in a question: "(A) ...", "A) ...", "A. ...", "A: ..." at a line start or after
# white space.
_OPTION_IN_QUESTION = re.compile(r"(?:^|\s)\(?(?P<letter>[A-J])[).:]\s", re.MULTILINE)
_QUANTITY_QUESTION = re.compile(
    r"\bhow (?:many|much|long|old|far|fast|often)\b|\bwhat (?:year|percent|percentage)\b"
    r"|\b(?:calculate|compute|solve|evaluate|sum|total|product|difference|average|remainder)\b"
    r"|\d\s*[-+*/x×÷^]\s*\d",
    re.IGNORECASE,
)


def _number(match: re.Match[str]) -> str | None:
    whole, frac, den = match.group("int"), match.group("frac"), match.group("den")
    if whole is None and frac is None:
        return None
    value = Fraction((whole or "0").replace(",", "") + (frac or ""))
    if den is not None and int(den) != 0 and frac is None:
        value /= int(den)
    if match.group("sign"):
        value = -value
    return str(value)


def extract_number(text: str) -> str | None:
    """The final number of a math answer, canonical (`"1,234"` → `"1234"`, `"42.0"` → `"42"`,
    `"0.5"` → `"1/2"`), or None.

    Looked for, in order: after the last `####`, in the last `\\boxed{}`, after the last
    "answer" ("The answer is 12", "Answer: 12"), else the last number in the text.
    """
    for marker, anchored in _NUMBER_MARKERS:
        for hit in reversed(list(marker.finditer(text))):
            number = _first_number(hit.group("rest"), anchored)
            if number is not None:
                return number
    numbers = [n for n in (_number(m) for m in _NUMBER.finditer(text)) if n is not None]
    return numbers[-1] if numbers else None


def _first_number(text: str, anchored: bool) -> str | None:
    if anchored:
        match = _NUMBER.match(text)
        return None if match is None else _number(match)
    for match in _NUMBER.finditer(text):
        number = _number(match)
        if number is not None:
            return number
    return None


def has_number_marker(text: str) -> bool:
    """Whether the text states its number explicitly (`####`, `\\boxed{}`, "the answer is 12")."""
    return any(
        _first_number(hit.group("rest"), anchored) is not None
        for marker, anchored in _NUMBER_MARKERS
        for hit in marker.finditer(text)
    )


def _stated_choice(text: str) -> str | None:
    """The letter of the last explicit statement ("Answer: B", "the correct option is b")."""
    letter = None
    for hit in _CHOICE_MARKERS.finditer(text):
        found, follower = hit.group("letter"), hit.group("next")
        if (
            hit.group("open")
            or (found.isupper() and not follower.isalnum())
            or (found.islower() and (not follower or follower in ".,;:!?)]"))
        ):
            letter = found.upper()
    return letter


def extract_choice(text: str) -> str | None:
    """The option letter (upper case) of a multiple-choice answer, or None.

    Recognised: "Answer: B", "The answer is (B)", "The correct option is b" (the last such
    statement wins), a leading "B." / "(B)" / "B)" / "B:", a text that is only a letter, else the
    first "(B)" anywhere. A lower-case letter counts only in parentheses or where it cannot be
    the article "a" (followed by punctuation or the end of the line).
    """
    stated = _stated_choice(text)
    if stated is not None:
        return stated
    for pattern in (_LEADING_CHOICE, _ONLY_LETTER, _PAREN_CHOICE):
        match = pattern.search(text)
        if match:
            return match.group("letter").upper()
    return None


def question_has_options(question: str) -> bool:
    """Whether a question lists lettered options, at least (A) and (B)."""
    letters = {m.group("letter") for m in _OPTION_IN_QUESTION.finditer(question)}
    return {"A", "B"} <= letters


def asks_for_quantity(question: str) -> bool:
    """Whether a question asks for a number ("how many", "calculate", "3 + 4", ...)."""
    return _QUANTITY_QUESTION.search(question) is not None


@register_equivalence
class AnswerEquivalence(Equivalence):
    """Two answers are equivalent when they give the same extracted final answer.

    `kind`: "number" (GSM8K-style math: see `extract_number`), "choice" (an option letter: see
    `extract_choice`), or "auto" (a letter when the text states one explicitly, "Answer: B" or a
    leading "(B)", otherwise a number).

    An answer from which nothing can be extracted is equivalent to no answer, not even to an
    identical one: it is an unusable answer, and counting two of them as agreeing would make
    a model that never answers look confident. Each such answer is its own cluster.
    """

    name: ClassVar[str] = "answer"

    symmetric: ClassVar[bool] = True

    def __init__(self, kind: AnswerKind = "auto") -> None:
        if kind not in KINDS:
            raise ConfigurationError("kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
        self.kind: AnswerKind = kind

    @property
    def key(self) -> str:
        return f"answer:{self.kind}"

    def extract(self, text: str) -> str | None:
        """The normalised final answer of `text`, or None when there is none."""
        if self.kind == "number":
            return extract_number(text)
        if self.kind == "choice":
            return extract_choice(text)
        if _stated_choice(text) or _LEADING_CHOICE.search(text) or _ONLY_LETTER.search(text):
            return extract_choice(text)
        return extract_number(text)

    def entails(self, question: str, premise: str, hypothesis: str) -> bool:
        extracted = self.extract(premise)
        return extracted is not None and extracted == self.extract(hypothesis)

    @classmethod
    def detect_kind(
        cls, question: str, answers: Sequence[str]
    ) -> Literal["number", "choice"] | None:
        """The kind of final answer this task has, or None when answers cannot be extracted.

        "choice" when the question lists options (A) and (B) and most answers (more than half)
        name a letter; "number" when most answers state a number explicitly (`####`, `\\boxed`,
        "the answer is"), or the question asks for a quantity and most answers contain a number.
        """

        def most(predicate: Callable[[str], bool]) -> bool:
            return 2 * sum(1 for a in answers if predicate(a)) > len(answers)

        if not answers:
            return None
        if question_has_options(question) and most(lambda a: extract_choice(a) is not None):
            return "choice"
        if most(has_number_marker):
            return "number"
        if asks_for_quantity(question) and most(lambda a: extract_number(a) is not None):
            return "number"
        return None

    @classmethod
    def applicable(cls, question: str, answers: Sequence[str]) -> bool:
        """Whether a final answer can be extracted for this task (see `detect_kind`)."""
        return cls.detect_kind(question, answers) is not None

    def __repr__(self) -> str:
        return f"AnswerEquivalence(kind={self.kind!r})"

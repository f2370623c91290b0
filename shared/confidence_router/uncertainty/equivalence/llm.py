"""Entailment judged by a chat model (edge or cloud), the reference's alternative to NLI."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, ClassVar

from confidence_router.errors import ConfigurationError
from confidence_router.generation import GenerationOptions
from confidence_router.messages import ChatMessage
from confidence_router.uncertainty.equivalence.base import BoundedCache, Equivalence
from confidence_router.uncertainty.equivalence.registry import register_equivalence

if TYPE_CHECKING:  # models.base imports this package: a runtime import would be circular
    from confidence_router.models.base import ChatBackend

DEFAULT_PROMPT = (
    'We are evaluating answers to the question "{question}"\n'
    "Here are two possible answers:\n"
    "Possible Answer 1: {premise}\n"
    "Possible Answer 2: {hypothesis}\n"
    "Does Possible Answer 1 semantically entail Possible Answer 2? "
    "Respond with one word only: entailment, contradiction or neutral."
)
_YES = frozenset({"yes", "entailment", "entails", "entailed", "true"})
_NO = frozenset({"no", "not", "contradiction", "contradicts", "neutral", "false"})
_LABEL = re.compile(r"^(?:answer|verdict|response|label)\s*[:\-]\s*")


def parse_verdict(text: str) -> bool | None:
    """True for "entailment" / "yes", False for "contradiction" / "neutral" / "no", None when the
    reply's first word is none of these (markdown, quotes and an "Answer:" label are skipped)."""
    cleaned = re.sub(r"[*_`\"'#]", "", text).strip().lower()
    cleaned = _LABEL.sub("", cleaned)
    match = re.match(r"[a-z]+", cleaned)
    if match is None:
        return None
    word = match.group(0)
    if word in _YES:
        return True
    if word in _NO:
        return False
    return None


@register_equivalence
class LLMEntailment(Equivalence):
    """Asks `judge` whether one answer entails the other; equivalence asks both directions.

    The prompt is the reference implementation's (Farquhar et al. 2024, `EntailmentLLM`), asking
    for one word. Decoding is greedy with `max_new_tokens` (default 8). Only the reply's first word
    counts (see `parse_verdict`); an unparseable reply counts as *not entailed*: merging answers
    on a verdict we could not read would overstate the model's confidence, keeping them apart errs
    towards escalating. Verdicts are cached per (question, premise, hypothesis) in this instance,
    least recently used first out beyond `cache_size` entries.
    """

    name: ClassVar[str] = "llm"

    def __init__(
        self,
        judge: ChatBackend,
        *,
        prompt: str = DEFAULT_PROMPT,
        max_new_tokens: int = 8,
        cache_size: int = 4096,
    ) -> None:
        for name in ("{question}", "{premise}", "{hypothesis}"):
            if name not in prompt:
                raise ConfigurationError("prompt", f"must contain the placeholder {name}")
        if max_new_tokens < 1:
            raise ConfigurationError("max_new_tokens", f"must be >= 1, got {max_new_tokens}")
        self.judge = judge
        self.prompt = prompt
        self.options = GenerationOptions(max_new_tokens=max_new_tokens)
        self._cache: BoundedCache[tuple[str, str, str], bool] = BoundedCache(cache_size)
        self.unparsed = 0  # replies that were neither yes nor no, for monitoring

    @property
    def key(self) -> str:
        return f"llm:{self.judge.model_name}@{id(self.judge):x}:{hash(self.prompt):x}"

    def messages(self, question: str, premise: str, hypothesis: str) -> list[ChatMessage]:
        """The judge's conversation for one direction."""
        content = self.prompt.format(question=question, premise=premise, hypothesis=hypothesis)
        return [ChatMessage(role="user", content=content)]

    def entails(self, question: str, premise: str, hypothesis: str) -> bool:
        cache_key = (question, premise, hypothesis)
        cached = self._cache.get(cache_key)
        if cached is not None:
            return cached
        reply = self.judge.generate(self.messages(question, premise, hypothesis), self.options)
        verdict = parse_verdict(reply.text)
        if verdict is None:
            self.unparsed += 1
        result = bool(verdict)
        self._cache.put(cache_key, result)
        return result

    def __repr__(self) -> str:
        return f"LLMEntailment(judge={self.judge.model_name!r})"

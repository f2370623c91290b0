"""A new equivalence in one file: two answers mean the same when they use the same content words.

    python examples/extending/equivalence.py   # offline: hand-made samples

`@register_equivalence` is the only wiring: once this module is imported,
`get_equivalence("same_keywords")`, `SemanticEntropy(equivalence="same_keywords")` (and
`NumSemanticSets`) and the CLI's `--equivalence` choices know it.
"""

from __future__ import annotations

import re
from typing import ClassVar

from confidence_router.generation import Answer, Generation
from confidence_router.messages import ChatMessage
from confidence_router.uncertainty import (
    Equivalence,
    NumSemanticSets,
    RequestStatistics,
    SemanticEntropy,
    cluster_answers,
    get_equivalence,
    register_equivalence,
)

STOP_WORDS = frozenset({"a", "an", "and", "the", "is", "are", "was", "of", "in", "on", "to", "it"})


def keywords(text: str) -> frozenset[str]:
    """Lower-cased words of `text` without stop words."""
    return frozenset(re.findall(r"\w+", text.lower())) - STOP_WORDS


@register_equivalence
class SameKeywords(Equivalence):
    """`premise` entails `hypothesis` when every content word of the hypothesis is in the
    premise ("Paris is the capital" entails "Paris", not the reverse); equivalence, asked both
    ways, is equal keyword sets. Cheap and word-order blind; no paraphrase or negation sense."""

    name: ClassVar[str] = "same_keywords"

    @property
    def key(self) -> str:
        return "same_keywords"  # every instance decides alike: clusters are shared

    def entails(self, question: str, premise: str, hypothesis: str) -> bool:
        return keywords(hypothesis) <= keywords(premise)


SAMPLES = (
    "The capital is Paris.",
    "Paris is the capital",
    "Paris",
    "the capital is Lyon",
    "Capital: Paris.",
)


def main() -> dict[str, object]:
    """The samples' clusters and the SE / number-of-meanings confidences, printed."""
    answers = tuple(Answer(text) for text in SAMPLES)
    question = [ChatMessage(role="user", content="What is the capital of France?")]
    stats = RequestStatistics(question, Generation(Answer("Paris"), samples=answers))
    se = SemanticEntropy(equivalence="same_keywords")  # by name, through the registry
    sets = NumSemanticSets(equivalence="same_keywords")
    ids = cluster_answers(question[0].content, list(SAMPLES), get_equivalence("same_keywords"))
    for text, cluster in zip(SAMPLES, ids, strict=True):
        print(f"cluster {cluster}: {text}")
    out = {
        "clusters": ids,
        "semantic_entropy": se.confidence(stats),
        "num_semantic_sets": sets.confidence(stats),
    }
    print(f"SE confidence {out['semantic_entropy']:.3f}, sets {out['num_semantic_sets']:.3f}")
    return out


if __name__ == "__main__":
    main()

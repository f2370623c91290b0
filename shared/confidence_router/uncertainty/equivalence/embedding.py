"""Equivalence by cosine similarity of sentence embeddings: the fallback when there is no judge."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from confidence_router.embeddings import Embedder, default_embedder
from confidence_router.errors import ConfigurationError, InvalidInputError
from confidence_router.uncertainty.equivalence.base import BoundedCache, Equivalence
from confidence_router.uncertainty.equivalence.registry import register_equivalence


@register_equivalence
class EmbeddingEquivalence(Equivalence):
    """Two answers are equivalent when the cosine similarity of their embeddings is >= `threshold`.

    `embedder`: any callable `list[str] -> array (n, dim)`; default: the bundled all-MiniLM-L6-v2
    (`confidence_router.embeddings.default_embedder`, loaded on first use). The default threshold,
    0.9, keeps only near-paraphrases together. Measured with MiniLM: "The capital of France is
    Paris." / "Paris is the capital of France." 0.99, "The capital is Paris" / "The capital is
    Lyon" 0.61, "The answer is 12" / "The answer is 13" 0.87; but "It is raining." / "It is not
    raining." 0.93 (similarity is not entailment) and "Paris" / "The capital of France is Paris."
    0.73 (short and long forms of one answer fall apart). Prefer `AnswerEquivalence`,
    `NLIEntailment` or `LLMEntailment` where they apply. Embeddings are cached per text.
    """

    name: ClassVar[str] = "embedding"

    symmetric: ClassVar[bool] = True

    def __init__(
        self,
        embedder: Embedder | None = None,
        *,
        threshold: float = 0.9,
        cache_size: int = 4096,
    ) -> None:
        if not -1.0 <= threshold <= 1.0:
            raise ConfigurationError("threshold", f"must be in [-1, 1], got {threshold}")
        self._embedder = embedder
        self.threshold = threshold
        self._cache: BoundedCache[str, npt.NDArray[np.float64]] = BoundedCache(cache_size)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = default_embedder()
        return self._embedder

    @property
    def key(self) -> str:
        embedder = self._embedder if self._embedder is not None else default_embedder()
        name = getattr(embedder, "key", None) or f"{type(embedder).__qualname__}@{id(embedder):x}"
        return f"embedding:{name}:{self.threshold}"

    def embed(self, texts: Sequence[str]) -> list[npt.NDArray[np.float64]]:
        """Unit-length embeddings of `texts`, computing only the ones not cached (in one call)."""
        found = {text: self._cache.get(text) for text in texts}
        missing = list(dict.fromkeys(text for text, vector in found.items() if vector is None))
        if missing:
            raw: npt.NDArray[Any] = np.asarray(self.embedder(missing), dtype=np.float64)
            if raw.ndim != 2 or raw.shape[0] != len(missing):
                raise InvalidInputError(
                    f"the embedder returned shape {raw.shape} for {len(missing)} texts"
                )
            norms = np.linalg.norm(raw, axis=1, keepdims=True)
            unit = raw / np.where(norms > 0, norms, 1.0)
            for text, vector in zip(missing, unit, strict=True):
                self._cache.put(text, vector)
                found[text] = vector
        return [v for v in (found[text] for text in texts) if v is not None]

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of the two texts' embeddings."""
        first, second = self.embed([a, b])
        return float(np.dot(first, second))

    def prepare(self, question: str, texts: Sequence[str]) -> None:
        self.embed(texts)

    def entails(self, question: str, premise: str, hypothesis: str) -> bool:
        return self.similarity(premise, hypothesis) >= self.threshold

    def __repr__(self) -> str:
        return f"EmbeddingEquivalence(threshold={self.threshold})"

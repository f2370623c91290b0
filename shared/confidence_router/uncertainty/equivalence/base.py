"""The equivalence interface: when do two answers to the same question mean the same thing?"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Sequence
from typing import ClassVar, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Equivalence(ABC):
    """Decides whether two answers to `question` are semantically equivalent.

    Subclasses implement `entails` (one direction). `equivalent` is bidirectional entailment.
    Two flags tell the clustering how to ask efficiently:

    - `symmetric`: `entails(a, b) == entails(b, a)` always (answer matching, embeddings), so one
      direction per pair is enough.
    - `batched`: one `entails_batch` call over many pairs is much cheaper than as many `entails`
      calls (an NLI model's forward pass), so the clustering asks all of a sample's pairs at once
      instead of stopping at the first matching cluster.

    `key` identifies the decision rule: two instances with the same key must give the same
    verdicts, so per-request results (the clusters) computed with one are reused for the other.
    `name` is what `@register_equivalence` registers the class under.
    """

    name: ClassVar[str]
    symmetric: ClassVar[bool] = False
    batched: ClassVar[bool] = False

    @property
    def key(self) -> str:
        """Identity of the decision rule (default: this instance)."""
        return f"{type(self).__name__}@{id(self):x}"

    @abstractmethod
    def entails(self, question: str, premise: str, hypothesis: str) -> bool:
        """Whether `hypothesis` follows from `premise`, both being answers to `question`."""

    def equivalent(self, question: str, a: str, b: str) -> bool:
        """Bidirectional entailment: `a` entails `b` and `b` entails `a`."""
        if not self.entails(question, a, b):
            return False
        return self.symmetric or self.entails(question, b, a)

    def entails_batch(self, question: str, pairs: Sequence[tuple[str, str]]) -> list[bool]:
        """`entails` over many (premise, hypothesis) pairs, in order."""
        return [self.entails(question, premise, hypothesis) for premise, hypothesis in pairs]

    def prepare(self, question: str, texts: Sequence[str]) -> None:  # noqa: B027
        """Called once with all the answers of a request before any `entails` (e.g. to embed them
        in one batch). The default does nothing."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class BoundedCache(Generic[K, V]):
    """A thread-safe least-recently-used mapping of at most `size` entries (0 disables it)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            if key not in self._data:
                return None
            self._data.move_to_end(key)
            return self._data[key]

    def put(self, key: K, value: V) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

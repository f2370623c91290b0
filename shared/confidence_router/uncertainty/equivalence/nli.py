"""Entailment by a local natural-language-inference classifier (the paper: DeBERTa on MNLI)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from confidence_router.errors import ConfigurationError, ModelLoadError
from confidence_router.uncertainty.equivalence.base import Equivalence
from confidence_router.uncertainty.equivalence.registry import register_equivalence


def entailment_label_id(id2label: dict[Any, str]) -> int:
    """The class index whose label names entailment ("entailment", "ENTAILMENT", "entails"), not
    its negation ("not_entailment"). ConfigurationError when there is not exactly one."""
    found = [
        int(index)
        for index, label in id2label.items()
        if "entail" in label.lower() and not label.lower().startswith(("not", "non"))
    ]
    if len(found) != 1:
        labels = ", ".join(str(label) for label in id2label.values())
        raise ConfigurationError(
            "model_path", f"the model's labels ({labels}) do not name exactly one entailment class"
        )
    return found[0]


@register_equivalence
class NLIEntailment(Equivalence):
    """`premise` entails `hypothesis` when an NLI classifier's most likely class is entailment.

    `model_path`: a local Hugging Face sequence-classification model folder (e.g. a DeBERTa MNLI
    checkpoint); it loads on first use, from local files only (`ModelLoadError` otherwise). The
    entailment class is found in `config.id2label`. As in the reference implementation of
    semantic entropy (Farquhar et al. 2024), the question is prepended to each answer,
    `f"{question} {answer}"` (`include_question=False` turns it off). Pairs are classified in
    batches of `batch_size`. Calls are thread-safe.
    """

    name: ClassVar[str] = "nli"

    batched: ClassVar[bool] = True

    def __init__(
        self,
        model_path: str | Path,
        *,
        device: str = "cpu",
        batch_size: int = 16,
        max_length: int = 512,
        include_question: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ConfigurationError("batch_size", f"must be >= 1, got {batch_size}")
        if max_length < 1:
            raise ConfigurationError("max_length", f"must be >= 1, got {max_length}")
        self.model_path = Path(model_path)
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self.include_question = include_question
        self._model: Any = None
        self._tokenizer: Any = None
        self._entailment_id = -1
        self._lock = threading.Lock()

    @property
    def key(self) -> str:
        return f"nli:{self.model_path}:{self.include_question}:{self.max_length}"

    def load(self) -> None:
        """Load the classifier now (otherwise done by the first call)."""
        with self._lock:
            if self._model is not None:
                return
            if not self.model_path.is_dir():
                raise ModelLoadError(f"NLI model folder not found: {self.model_path}")
            try:
                from transformers import AutoModelForSequenceClassification, AutoTokenizer

                tokenizer = AutoTokenizer.from_pretrained(
                    str(self.model_path), local_files_only=True
                )
                model = AutoModelForSequenceClassification.from_pretrained(
                    str(self.model_path), local_files_only=True
                )
            except (OSError, ValueError) as exc:
                raise ModelLoadError(
                    f"cannot load the NLI model at {self.model_path}: {exc}"
                ) from exc
            self._entailment_id = entailment_label_id(dict(model.config.id2label))
            model.to(self.device).eval()
            self._tokenizer, self._model = tokenizer, model

    def _text(self, question: str, answer: str) -> str:
        return f"{question} {answer}" if self.include_question else answer

    def entails(self, question: str, premise: str, hypothesis: str) -> bool:
        return self.entails_batch(question, [(premise, hypothesis)])[0]

    def entails_batch(self, question: str, pairs: Sequence[tuple[str, str]]) -> list[bool]:
        self.load()
        if not pairs:
            return []
        import torch

        verdicts: list[bool] = []
        with self._lock, torch.inference_mode():
            for start in range(0, len(pairs), self.batch_size):
                chunk = pairs[start : start + self.batch_size]
                inputs = self._tokenizer(
                    [self._text(question, premise) for premise, _ in chunk],
                    [self._text(question, hypothesis) for _, hypothesis in chunk],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)
                predicted = self._model(**inputs).logits.argmax(dim=-1)
                verdicts.extend(bool(p == self._entailment_id) for p in predicted.tolist())
        return verdicts

    def __repr__(self) -> str:
        return f"NLIEntailment({str(self.model_path)!r})"

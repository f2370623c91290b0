"""Predictive routers on query embeddings: trained on battles, they return P(cloud wins | query).

Targets: a battle the cloud won is 1, one the edge won 0, a tie 0.5 (half a win each, as
RouteLLM counts ties). Every router saves as safetensors (its arrays) plus JSON (its settings
and provenance): loading never executes code.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import numpy.typing as npt

from confidence_router.errors import ConfigurationError, InvalidInputError
from confidence_router.registry import Registry
from confidence_router.winner import Winner

Floats = npt.NDArray[np.float64]
_TARGET = {"cloud": 1.0, "edge": 0.0, "tie": 0.5}


@dataclass(frozen=True)
class Provenance:
    """What a router was trained on; saved with it and checked when it is loaded."""

    edge_model: str = ""
    cloud_model: str = ""
    embedding_model: str = ""
    tau: float | None = None
    labels: str = "semantic_entropy"
    data_hash: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def targets(winners: Sequence[Winner]) -> Floats:
    try:
        return np.array([_TARGET[w] for w in winners], dtype=np.float64)
    except KeyError as exc:
        raise InvalidInputError(f"a winner must be edge, cloud or tie, got {exc}") from None


def data_hash(embeddings: Floats, winners: Sequence[Winner]) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(embeddings, dtype=np.float32).tobytes())
    digest.update(json.dumps(list(winners)).encode())
    return digest.hexdigest()[:16]


def normalize(x: Floats) -> Floats:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.asarray(x / np.where(norms == 0, 1.0, norms), dtype=np.float64)


def check_training(embeddings: Any, winners: Sequence[Winner]) -> tuple[Floats, Floats]:
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != len(winners) or x.shape[0] == 0:
        raise InvalidInputError(
            f"embeddings must be (n, d) with n = {len(winners)} winners, got {x.shape}"
        )
    return x, targets(winners)


class EmbeddingRouter(ABC):
    """Fit on (embeddings, winners); `predict(embeddings)` gives P(cloud wins) per query.

    `kind` is the name `@register` files the class under. `grid` lists the constructor
    settings a benchmark picks the best of (`benchmarks/router_grids.py`): by default one, the
    defaults; empty for a baseline the benchmarks report apart (`RandomRouter`).
    """

    kind: ClassVar[str]
    grid: ClassVar[tuple[dict[str, Any], ...]] = ({},)

    def __init__(self) -> None:
        self.provenance = Provenance()
        self.dim: int | None = None

    def fit(
        self, embeddings: Any, winners: Sequence[Winner], provenance: Provenance | None = None
    ) -> EmbeddingRouter:
        x, y = check_training(embeddings, winners)
        self.dim = x.shape[1]
        self._fit(x, y)
        base = provenance or Provenance()
        self.provenance = Provenance(**{**asdict(base), "data_hash": data_hash(x, winners)})
        return self

    def predict(self, embeddings: Any) -> Floats:
        if self.dim is None:
            raise InvalidInputError(f"{type(self).__name__} is not fitted")
        x = np.asarray(embeddings, dtype=np.float64)
        single = x.ndim == 1
        x = x[None, :] if single else x
        if x.shape[-1] != self.dim:
            raise InvalidInputError(f"embeddings must have {self.dim} dimensions, got {x.shape}")
        p = np.clip(self._predict(x), 0.0, 1.0)
        return p

    @abstractmethod
    def _fit(self, x: Floats, y: Floats) -> None: ...

    @abstractmethod
    def _predict(self, x: Floats) -> Floats: ...

    # -- persistence: arrays in safetensors, the rest in JSON -----------------------------------

    def settings(self) -> dict[str, Any]:
        """Constructor arguments (JSON)."""
        return {}

    @abstractmethod
    def arrays(self) -> dict[str, Floats]: ...

    @abstractmethod
    def load_arrays(self, arrays: dict[str, Floats]) -> None: ...

    def save(self, path: str | Path) -> Path:
        """`<path>.safetensors` and `<path>.json`; returns the JSON path."""
        from safetensors.numpy import save_file

        if self.dim is None:
            raise InvalidInputError("fit the router before saving it")
        stem = Path(path).with_suffix("")
        arrays = {k: np.ascontiguousarray(v) for k, v in self.arrays().items()}
        save_file(arrays, str(stem.with_suffix(".safetensors")))
        meta = {
            "kind": self.kind,
            "settings": self.settings(),
            "dim": self.dim,
            "provenance": asdict(self.provenance),
        }
        target = stem.with_suffix(".json")
        target.write_text(json.dumps(meta, indent=2))
        return target


ROUTERS: Registry[EmbeddingRouter] = Registry(EmbeddingRouter, "kind", "router")
R = TypeVar("R", bound=type[EmbeddingRouter])


def register(cls: R) -> R:
    """Class decorator: make `cls` available by its `kind` (`train_router`, `load_router`,
    `confidence-router train --router`, the benchmarks' grids)."""
    return ROUTERS.register(cls)


def load_router(path: str | Path, *, embedding_model: str | None = None) -> EmbeddingRouter:
    """A router saved by `save`. With `embedding_model`, a router trained on another embedding
    model is refused (its scores would be meaningless)."""
    from safetensors.numpy import load_file

    stem = Path(path).with_suffix("")
    try:
        meta = json.loads(stem.with_suffix(".json").read_text())
        arrays = load_file(str(stem.with_suffix(".safetensors")))
    except (OSError, ValueError) as exc:
        raise ConfigurationError("path", f"cannot read a router at {stem}: {exc}") from exc
    cls = ROUTERS.get(meta.get("kind", ""))
    if cls is None:
        raise ConfigurationError("path", f"unknown router kind {meta.get('kind')!r} in {stem}")
    provenance = Provenance(**meta["provenance"])
    if embedding_model is not None and provenance.embedding_model != embedding_model:
        raise ConfigurationError(
            "embedding_model",
            f"the router was trained on {provenance.embedding_model!r} embeddings, "
            f"not {embedding_model!r}",
        )
    router = cls(**meta["settings"])
    router.dim = int(meta["dim"])
    router.provenance = provenance
    router.load_arrays({k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()})
    return router

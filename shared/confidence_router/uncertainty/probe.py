"""Learned confidence from the edge's hidden states, read from the same generation.

A `Probe` is a logistic regression on standardised features: one layer's hidden state at the
last prompt token (`source="prompt"`) or the mean over the answer's tokens (`source="answer"`),
as `Answer.hidden` carries them (`GenerationOptions.hidden_states`). Its output is
P(acceptable answer) for `target="correct"`, or P(low semantic entropy) for `target="low_se"`.
`ProbeConfidence` (registered as "probe") is the estimator: confidence = the probe's P.
A prompt probe is also a pre-generation step (`routing.pregeneration.PreGeneration`): its
`p_cloud(messages)` = 1 - P from a prefill alone (`edge.prompt_state`).

A probe saves as `<stem>.safetensors` (weights, bias, standardisation mean and std) plus
`<stem>.json` (source, target, layer, the model's SHA-256, training provenance); loading never
executes code, and `load_probe(path, model)` refuses a probe made on another model's states.
`training.probe.train_probe` fits one.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from confidence_router.errors import CapabilityError, ConfigurationError, InvalidInputError
from confidence_router.generation import HiddenStates
from confidence_router.messages import ChatMessage
from confidence_router.statistics import Statistic
from confidence_router.uncertainty.base import Estimator
from confidence_router.uncertainty.registry import register_estimator
from confidence_router.uncertainty.statistics import RequestStatistics

if TYPE_CHECKING:
    from confidence_router.models.base import ChatBackend

Floats = npt.NDArray[np.float64]
Source = Literal["answer", "prompt"]
Target = Literal["correct", "low_se"]
SOURCES: tuple[Source, ...] = ("answer", "prompt")
TARGETS: tuple[Target, ...] = ("correct", "low_se")
FORMAT = 1  # the saved probe's format version


def sigmoid(x: npt.ArrayLike) -> Floats:
    """1 / (1 + exp(-x)) without overflow."""
    out: Floats = np.exp(-np.logaddexp(0.0, -np.asarray(x, dtype=np.float64)))
    return out


@dataclass(frozen=True, eq=False)
class Probe:
    """P = sigmoid(((x - mean) / std) . weights + bias) over one feature vector `x` of layer
    `layer` (counted from the end, -1 the last) from `source`; P means `target`.
    `model_sha256` names the model whose states it was trained on (`weights_sha256`); `meta`
    holds the training provenance (model name, data hash, creation time, held-out AUROC, the
    candidates compared)."""

    weights: Floats
    bias: float
    mean: Floats
    std: Floats
    source: Source = "answer"
    target: Target = "correct"
    layer: int = -1
    model_sha256: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("weights", "mean", "std"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        d = self.weights.shape
        if len(d) != 1 or self.mean.shape != d or self.std.shape != d or d[0] == 0:
            raise ConfigurationError("probe", "weights, mean and std must be (d,) vectors")
        if not (np.all(np.isfinite(self.std)) and np.all(self.std > 0)):
            raise ConfigurationError("probe", "std must be positive and finite")
        if self.source not in SOURCES:
            raise ConfigurationError("source", f"must be one of {SOURCES}, got {self.source!r}")
        if self.target not in TARGETS:
            raise ConfigurationError("target", f"must be one of {TARGETS}, got {self.target!r}")
        if self.layer >= 0:
            raise ConfigurationError("layer", f"counts from the end (-1: last), got {self.layer}")

    @property
    def dim(self) -> int:
        return int(self.weights.shape[0])

    def logits(self, x: npt.ArrayLike) -> Floats:
        """The probe's logit for each row of `x` ((n, d), or one (d,) vector: shape (1,))."""
        v = np.asarray(x, dtype=np.float64)
        v = v[None, :] if v.ndim == 1 else v
        if v.ndim != 2 or v.shape[1] != self.dim:
            raise InvalidInputError(f"features must have {self.dim} dimensions, got {v.shape}")
        out: Floats = ((v - self.mean) / self.std) @ self.weights + self.bias
        return out

    def predict(self, x: npt.ArrayLike) -> Floats:
        """P(target) for each row of `x`."""
        return sigmoid(self.logits(x))

    def features(self, hidden: HiddenStates) -> npt.NDArray[np.float32]:
        """The vector this probe reads out of an answer's hidden states."""
        return hidden.prompt if self.source == "prompt" else hidden.answer_mean


def model_hash(model: Any) -> str:
    """A model's SHA-256: a string is taken as it is, else the backend's `model_sha256`."""
    if isinstance(model, str):
        return model
    value = getattr(model, "model_sha256", None)
    if not isinstance(value, str):
        name = getattr(model, "model_name", type(model).__name__)
        raise CapabilityError(f"{name}: cannot name its weights (no model_sha256)")
    return value


def check_model(probe: Probe, model: Any) -> None:
    """`ConfigurationError` unless `probe` was made on `model`'s states."""
    expected = model_hash(model)
    if probe.model_sha256 != expected:
        made_for = probe.meta.get("model_name") or probe.model_sha256[:12] or "an unknown model"
        raise ConfigurationError(
            "probe",
            f"made on the hidden states of {made_for} (SHA-256 {probe.model_sha256[:12]}...), "
            f"not of this model ({expected[:12]}...): retrain it on this model",
        )


def save_probe(probe: Probe, path: str | os.PathLike[str]) -> Path:
    """`<stem>.safetensors` and `<stem>.json`; returns the JSON path."""
    from safetensors.numpy import save_file

    stem = Path(path).with_suffix("")
    arrays = {
        "weights": probe.weights,
        "bias": np.array([probe.bias]),
        "mean": probe.mean,
        "std": probe.std,
    }
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, f"{stem}.safetensors")
    meta = {
        "kind": "probe",
        "format": FORMAT,
        "source": probe.source,
        "target": probe.target,
        "layer": probe.layer,
        "dim": probe.dim,
        "model_sha256": probe.model_sha256,
        **probe.meta,
    }
    target = stem.with_suffix(".json")
    target.write_text(json.dumps(meta, indent=2) + "\n")
    return target


_OWN = ("kind", "format", "source", "target", "layer", "dim", "model_sha256")


def load_probe(path: str | os.PathLike[str], model: Any = None) -> Probe:
    """A probe saved by `save_probe` (either file's path, or their stem). With `model` (a
    backend with `model_sha256`, or the SHA-256 itself), a probe made on another model's
    states is refused with `ConfigurationError`."""
    from safetensors.numpy import load_file

    stem = Path(path).with_suffix("")
    try:
        meta = json.loads(stem.with_suffix(".json").read_text())
        arrays = load_file(f"{stem}.safetensors")
    except (OSError, ValueError) as exc:
        raise ConfigurationError("path", f"cannot read a probe at {stem}: {exc}") from exc
    if meta.get("kind") != "probe" or meta.get("format") != FORMAT:
        raise ConfigurationError("path", f"{stem}: not a probe of format {FORMAT}")
    try:
        probe = Probe(
            weights=arrays["weights"],
            bias=float(arrays["bias"][0]),
            mean=arrays["mean"],
            std=arrays["std"],
            source=meta["source"],
            target=meta["target"],
            layer=int(meta["layer"]),
            model_sha256=str(meta["model_sha256"]),
            meta={k: v for k, v in meta.items() if k not in _OWN},
        )
    except KeyError as exc:
        raise ConfigurationError("path", f"{stem}: the probe lacks {exc}") from None
    if model is not None:
        check_model(probe, model)
    return probe


@register_estimator
class ProbeConfidence(Estimator):
    """Confidence = a trained probe's P(acceptable) (`target="correct"`) or P(low semantic
    entropy) (`target="low_se"`) on the edge's hidden states from the same generation.

    `probe`: a `Probe` or the path of a saved one. In a router it is bound to the edge, which
    must be the model the probe was trained on (`ConfigurationError` otherwise). `uncertainty`
    is minus the probe's logit, so the confidence is monotone in it.

    A prompt probe (`source="prompt"`) is also a pre-generation step: `band` and `p_cloud`
    (1 - P from `edge.prompt_state`, a prefill with no generation) make it a
    `PreGeneration` for `CascadeRouter(..., pre=...)`; it then needs `edge=` (or a bound copy).
    """

    name: ClassVar[str] = "probe"
    requires: ClassVar[frozenset[Statistic]] = frozenset({Statistic.HIDDEN_STATES})

    def __init__(
        self,
        probe: Probe | str | os.PathLike[str],
        *,
        edge: ChatBackend | None = None,
        band: tuple[float, float] = (0.3, 0.7),
    ) -> None:
        self.probe = probe if isinstance(probe, Probe) else load_probe(probe)
        if edge is not None:
            check_model(self.probe, edge)
        low, high = band
        if not 0.0 <= low <= high <= 1.0:
            raise ConfigurationError("band", f"needs 0 <= low <= high <= 1, got {band}")
        self.band: tuple[float, float] = (float(low), float(high))
        self.edge = edge
        self.hidden_layer = self.probe.layer

    @property
    def kind(self) -> str:
        return self.name

    def bind(self, edge: ChatBackend) -> ProbeConfidence:
        """A copy reading `edge` (the model the probe was made on: checked)."""
        check_model(self.probe, edge)
        bound = copy.copy(self)
        bound.edge = edge
        return bound

    def logit(self, stats: RequestStatistics) -> float:
        hidden = stats.generation.greedy.hidden
        if hidden is None:
            raise CapabilityError(
                f"{self.name}: the edge answer has no hidden states (generate with "
                "hidden_states=True on a backend with Statistic.HIDDEN_STATES)"
            )
        if hidden.layer != self.probe.layer:
            raise ConfigurationError(
                "hidden_layer", f"the probe reads layer {self.probe.layer}, got {hidden.layer}"
            )
        return float(self.probe.logits(self.probe.features(hidden))[0])

    def uncertainty(self, stats: RequestStatistics) -> float:
        return -self.logit(stats)

    def to_confidence(self, uncertainty: float) -> float:
        return float(sigmoid(np.float64(-uncertainty)))

    def p_cloud(self, messages: Sequence[ChatMessage]) -> float:
        """1 - P(target) from the prompt's state alone, before generating (prompt probes)."""
        if self.probe.source != "prompt":
            raise ConfigurationError(
                "probe", "an answer probe reads the answer: only a prompt probe decides before"
            )
        edge = self.edge
        reader = getattr(edge, "prompt_state", None)
        if edge is None or reader is None:
            raise CapabilityError(
                f"{self.name}: p_cloud needs an edge with prompt_state (pass edge=, or bind)"
            )
        state = reader(list(messages), layer=self.probe.layer)
        return float(1.0 - self.probe.predict(state)[0])

    def __repr__(self) -> str:
        p = self.probe
        return f"ProbeConfidence(source={p.source!r}, target={p.target!r}, layer={p.layer})"

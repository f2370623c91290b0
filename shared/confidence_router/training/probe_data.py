"""A hidden-state probe's training data: labelled prompts, and the edge's own greedy answers
with their hidden states (`GenerationOptions.hidden_states`) and, for the "low_se" target, the
semantic entropy of N samples drawn in the same call.

Rows are JSONL: the prompt as `prompt` / `question` (text) or `messages`, and optionally its
label as `label` (or `acceptable`): 1 when the edge's answer is acceptable. A "low_se" label is
1 when the prompt's semantic entropy is below the median of the training prompts' (at or below
it when "below" would leave one class).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from confidence_router.errors import CapabilityError, InvalidInputError
from confidence_router.evaluation.hidden import decode_states
from confidence_router.evaluation.store import Run
from confidence_router.generation import GenerationOptions, HiddenStates
from confidence_router.messages import ChatMessage, normalize_messages
from confidence_router.models.base import ChatBackend
from confidence_router.prompt_files import jsonl_rows, prompt_of
from confidence_router.statistics import Statistic
from confidence_router.training.probe import Key, features_of
from confidence_router.uncertainty.equivalence.base import Equivalence
from confidence_router.uncertainty.semantic_entropy import SemanticEntropy
from confidence_router.uncertainty.statistics import RequestStatistics

Floats = npt.NDArray[np.float64]
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ProbeRow:
    """One training prompt and its label (1: acceptable; None: unlabelled)."""

    messages: list[ChatMessage]
    label: float | None = None


def read_probe_rows(path: str | os.PathLike[str]) -> list[ProbeRow]:
    """The rows of a JSONL (optionally gzipped) file of prompts and labels."""
    rows = []
    for where, row in jsonl_rows(path):
        label = row.get("label", row.get("acceptable"))
        if label is not None and float(label) not in (0.0, 1.0):
            raise InvalidInputError(f"{where}: a label is 0 or 1, got {label!r}")
        value = None if label is None else float(label)
        rows.append(ProbeRow(normalize_messages(prompt_of(row, where)), value))
    if not rows:
        raise InvalidInputError(f"{path}: no rows")
    return rows


def low_se_labels(entropies: Sequence[float]) -> Floats:
    """1 where the semantic entropy is below the median (at or below it when strictly below
    would leave a single class)."""
    se = np.asarray(entropies, dtype=np.float64)
    median = float(np.median(se))
    low = se < median
    if low.all() or not low.any():
        low = se <= median
    return low.astype(np.float64)


@dataclass
class ProbeData:
    """Features per (source, layer), labels per target, and each prompt's SE (when sampled)."""

    features: dict[Key, Floats]
    labels: dict[str, Floats]
    semantic_entropy: list[float] = field(default_factory=list)  # or a monotone stand-in


def collect_probe_data(
    edge: ChatBackend,
    rows: Sequence[ProbeRow],
    *,
    layers: Sequence[int] = (-1,),
    num_samples: int = 0,
    equivalence: Equivalence | str | None = None,
    max_new_tokens: int = 256,
    seed: int = 0,
    progress: Progress | None = None,
) -> ProbeData:
    """The edge's greedy answer to each row with layer `layers[0]`'s states and, when
    `num_samples` > 0, that many samples in the same call (their SE gives the "low_se"
    labels); each further layer takes one more greedy call per row (llama.cpp has the last
    layer only). The "correct" labels are the rows' own, when every row has one."""
    if Statistic.HIDDEN_STATES not in edge.capabilities.statistics:
        raise CapabilityError(f"the edge {edge.model_name!r} cannot supply hidden states")
    if not layers:
        raise InvalidInputError("no layers")
    estimator = SemanticEntropy(equivalence, num_samples=num_samples) if num_samples else None
    hiddens: dict[int, list[HiddenStates]] = {layer: [] for layer in layers}
    entropies: list[float] = []
    for index, row in enumerate(rows):
        for first, layer in zip([True] + [False] * (len(layers) - 1), layers, strict=True):
            samples = num_samples if first else 0
            options = GenerationOptions(
                max_new_tokens=max_new_tokens,
                hidden_states=True,
                hidden_layer=layer,
                num_samples=samples,
                seed=seed + index if samples else None,
            )
            generation = edge.generate(row.messages, options)
            hidden = generation.greedy.hidden
            if hidden is None:
                raise CapabilityError(f"the edge {edge.model_name!r} returned no hidden states")
            hiddens[layer].append(hidden)
            if estimator is not None and samples:
                stats = RequestStatistics(row.messages, generation)
                entropies.append(estimator.uncertainty(stats))
        if progress is not None:
            progress(index + 1, len(rows))
    features: dict[Key, Floats] = {}
    for layer_hiddens in hiddens.values():
        features.update(features_of(layer_hiddens))
    labels: dict[str, Floats] = {}
    known = [row.label for row in rows]
    if all(label is not None for label in known):
        labels["correct"] = np.asarray(known, dtype=np.float64)
    if entropies:
        labels["low_se"] = low_se_labels(entropies)
    if not labels:
        raise InvalidInputError(
            "no labels: give every row a 'label', or draw samples for the low_se target"
        )
    return ProbeData(features, labels, entropies)


def probe_data_from_run(
    run: Run, *, se_key: str = "semantic_entropy", prefix: str = ""
) -> tuple[list[str], ProbeData]:
    """The item ids and `ProbeData` of an edge-only run stored with hidden states
    (`confidence-router eval --edge-only --hidden-states`), items whose id starts with
    `prefix`: "correct" labels from the grades, "low_se" from the `se_key` score when every
    item the run scored has one (the lower the confidence, the higher the SE)."""
    edges, grades = run.table("edge"), run.table("grade")
    ids = sorted(i for i in edges if i.startswith(prefix) and "hidden" in edges[i] and i in grades)
    if not ids:
        raise InvalidInputError(f"run {run.name!r} has no graded answers with hidden states")
    hiddens = [decode_states(edges[i]["hidden"]) for i in ids]
    labels: dict[str, Floats] = {}
    if all(grades[i].get("edge") is not None for i in ids):
        labels["correct"] = np.asarray([grades[i]["edge"] for i in ids], dtype=np.float64)
    scores = [edges[i].get("scores", {}) for i in ids]
    entropies: list[float] = []
    if any(se_key in score for score in scores):
        # a monotone stand-in for the SE; an unscorable (empty) answer has confidence 0, as a
        # router treats it
        entropies = [-float(score.get(se_key, 0.0)) for score in scores]
        labels["low_se"] = low_se_labels(entropies)
    if not labels:
        raise InvalidInputError(f"run {run.name!r}: no grades and no {se_key!r} scores")
    return ids, ProbeData(features_of(hiddens), labels, entropies)

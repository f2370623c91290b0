"""Training a hidden-state probe (`uncertainty.probe.Probe`): logistic regression on
standardised features, the source / layer / target / L2 strength chosen by held-out AUROC on a
split of the training data (the test data is never seen here).

`features` maps (source, layer) to an (n, d) array of one feature per training prompt (as
`features_of` builds them out of answers' `HiddenStates`); `labels` maps a target ("correct",
"low_se") to n 0/1 labels. Each candidate is fitted on the split's fitting part and scored by
the AUROC of its P on the held-out part against `select_on` (default: the "correct" labels when
given, else the candidate's own target); the best is refitted on every training row.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from confidence_router.errors import ConfigurationError, InvalidInputError
from confidence_router.generation import HiddenStates
from confidence_router.metrics import auroc
from confidence_router.uncertainty.probe import (
    SOURCES,
    TARGETS,
    Probe,
    Source,
    Target,
    load_probe,
    save_probe,
    sigmoid,
)

__all__ = ["Probe", "features_of", "fit_logistic", "load_probe", "save_probe", "train_probe"]

Floats = npt.NDArray[np.float64]
Key = tuple[str, int]  # (source, layer)
DEFAULT_L2 = (1e-3, 1e-2, 1e-1)


def standardization(x: Floats) -> tuple[Floats, Floats]:
    """Per-feature mean and std (a constant feature gets std 1)."""
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    return mean, np.where(std > 1e-8, std, 1.0)


def fit_logistic(
    x: npt.ArrayLike, y: npt.ArrayLike, l2: float = 1e-2, *, max_iter: int = 50
) -> tuple[Floats, float, Floats, Floats]:
    """(weights, bias, mean, std) of a logistic regression of `y` (0/1) on standardised `x`,
    minimising the mean log-loss + l2 / 2 * |weights|^2 (the bias is not penalised) by damped
    Newton steps (numpy only)."""
    a = np.asarray(x, dtype=np.float64)
    t = np.asarray(y, dtype=np.float64)
    if a.ndim != 2 or t.shape != (a.shape[0],) or a.shape[0] < 2:
        raise InvalidInputError(f"features must be (n, d) with n labels, got {a.shape}, {t.shape}")
    if l2 <= 0:
        raise ConfigurationError("l2", f"must be > 0, got {l2}")
    mean, std = standardization(a)
    z = np.hstack([(a - mean) / std, np.ones((a.shape[0], 1))])
    n, d = z.shape
    penalty = np.full(d, l2)
    penalty[-1] = 0.0
    theta = np.zeros(d)

    def loss(th: Floats) -> float:
        s = z @ th
        return float(np.mean(np.logaddexp(0.0, s) - t * s) + 0.5 * np.sum(penalty * th * th))

    current = loss(theta)
    for _ in range(max_iter):
        p = sigmoid(z @ theta)
        grad = z.T @ (p - t) / n + penalty * theta
        hessian = (z * (p * (1 - p))[:, None]).T @ z / n + np.diag(penalty + 1e-10)
        step = np.linalg.solve(hessian, grad)
        scale = 1.0
        while scale > 1e-4:
            trial = theta - scale * step
            value = loss(trial)
            if value <= current:
                break
            scale /= 2
        else:
            break
        theta, improvement, current = trial, current - value, value
        if improvement < 1e-10:
            break
    return theta[:-1].copy(), float(theta[-1]), mean, std


def features_of(hiddens: Sequence[HiddenStates]) -> dict[Key, Floats]:
    """The two features of each answer's hidden states, stacked per (source, layer)."""
    if not hiddens:
        raise InvalidInputError("no hidden states")
    layers = {h.layer for h in hiddens}
    if len(layers) != 1:
        raise InvalidInputError(f"the hidden states come from several layers: {sorted(layers)}")
    (layer,) = layers
    return {
        ("answer", layer): np.stack([h.answer_mean for h in hiddens]).astype(np.float64),
        ("prompt", layer): np.stack([h.prompt for h in hiddens]).astype(np.float64),
    }


def data_hash(x: Floats, y: Floats) -> str:
    """SHA-256 of the training features (float32) and labels."""
    digest = hashlib.sha256(np.ascontiguousarray(x, dtype=np.float32).tobytes())
    digest.update(np.ascontiguousarray(y, dtype=np.float32).tobytes())
    return digest.hexdigest()


def _split(n: int, holdout: float, seed: int, y: Floats) -> tuple[Any, Any]:
    """Fitting and held-out row indices, stratified by `y` (each part keeps both classes)."""
    rng = np.random.default_rng(seed)
    fit: list[int] = []
    held: list[int] = []
    for cls in (0.0, 1.0):
        rows = rng.permutation(np.flatnonzero(y == cls))
        if len(rows) < 2:
            raise InvalidInputError("each class needs at least 2 training rows")
        cut = min(len(rows) - 1, max(1, round(len(rows) * holdout)))
        held.extend(rows[:cut].tolist())
        fit.extend(rows[cut:].tolist())
    return np.sort(fit), np.sort(held)


def _labels(labels: Mapping[str, npt.ArrayLike] | npt.ArrayLike, n: int) -> dict[str, Floats]:
    raw = labels if isinstance(labels, Mapping) else {"correct": labels}
    out: dict[str, Floats] = {}
    for target, values in raw.items():
        if target not in TARGETS:
            raise ConfigurationError("labels", f"unknown target {target!r}; known: {TARGETS}")
        y = np.asarray(values, dtype=np.float64)
        if y.shape != (n,) or not np.isin(y, (0.0, 1.0)).all():
            raise InvalidInputError(f"{target} labels must be {n} values of 0 or 1")
        out[target] = y
    if not out:
        raise InvalidInputError("no labels")
    return out


def train_probe(
    features: Mapping[Key, npt.ArrayLike],
    labels: Mapping[str, npt.ArrayLike] | npt.ArrayLike,
    *,
    model_sha256: str,
    model_name: str = "",
    l2: Sequence[float] = DEFAULT_L2,
    holdout: float = 0.25,
    seed: int = 0,
    select_on: str | None = None,
) -> Probe:
    """The best probe among every (source, layer) in `features` x target in `labels` x `l2`,
    by held-out AUROC on a stratified split of these training rows (`holdout` of them held
    out), refitted on all of them. `labels` may be one array (the "correct" target).
    `model_sha256` is the edge's (`edge.model_sha256`): the probe only loads for that model."""
    if not features:
        raise InvalidInputError("no features")
    if not 0.0 < holdout < 1.0:
        raise ConfigurationError("holdout", f"must be in (0, 1), got {holdout}")
    arrays: dict[Key, Floats] = {}
    for key, value in features.items():
        source, layer = key
        if source not in SOURCES:
            raise ConfigurationError("features", f"unknown source {source!r}; known: {SOURCES}")
        arrays[(source, int(layer))] = np.asarray(value, dtype=np.float64)
    n = next(iter(arrays.values())).shape[0]
    if any(a.ndim != 2 or a.shape[0] != n for a in arrays.values()):
        raise InvalidInputError("every feature array must be (n, d) with the same n")
    targets = _labels(labels, n)
    if select_on is None:
        select_on = "correct" if "correct" in targets else None
    elif select_on not in targets:
        raise ConfigurationError("select_on", f"no {select_on!r} labels given")
    fit_rows, held_rows = _split(n, holdout, seed, targets[select_on or next(iter(targets))])
    candidates: list[dict[str, Any]] = []
    for (key, x), (target, y), strength in itertools.product(arrays.items(), targets.items(), l2):
        if len(np.unique(y[fit_rows])) < 2:
            continue  # this target has one class among the fitting rows
        w, b, mean, std = fit_logistic(x[fit_rows], y[fit_rows], strength)
        p = sigmoid(((x[held_rows] - mean) / std) @ w + b)
        score = auroc(p, targets[select_on or target][held_rows])
        candidates.append(
            {
                "source": key[0],
                "layer": key[1],
                "target": target,
                "l2": strength,
                "auroc": None if math.isnan(score) else score,
            }
        )
    scored = [c for c in candidates if c["auroc"] is not None]
    if not scored:
        raise InvalidInputError("no candidate could be scored: each label needs both classes")
    best = max(scored, key=lambda c: c["auroc"])
    key = (str(best["source"]), int(best["layer"]))
    x, y = arrays[key], targets[str(best["target"])]
    w, b, mean, std = fit_logistic(x, y, float(best["l2"]))
    meta = {
        "model_name": model_name,
        "data_hash": data_hash(x, y),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "n_train": n,
        "l2": best["l2"],
        "heldout_auroc": best["auroc"],
        "selected_on": select_on or "own target",
        "candidates": candidates,
    }
    return Probe(
        weights=w,
        bias=b,
        mean=mean,
        std=std,
        source=cast(Source, key[0]),
        target=cast(Target, best["target"]),
        layer=key[1],
        model_sha256=model_sha256,
        meta=meta,
    )

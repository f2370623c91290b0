"""Phase 1 of the paper: sample N answers from the edge and the cloud for each training prompt,
cluster them, and record each tier's semantic entropy, in the shared result store (resumable,
nothing computed twice). Phase 2 turns the stored pairs into battles (`se_battles`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from confidence_router.evaluation.data import EvalItem, grade
from confidence_router.evaluation.runner import Results, Stage, run_stages
from confidence_router.evaluation.store import Run
from confidence_router.generation import GenerationOptions
from confidence_router.messages import normalize_messages
from confidence_router.models.base import ChatBackend
from confidence_router.training.labels import Battle, se_label
from confidence_router.uncertainty.semantic_entropy import SemanticEntropy
from confidence_router.uncertainty.statistics import RequestStatistics
from confidence_router.winner import Winner

SE_EDGE, SE_CLOUD = "se/edge", "se/cloud"


def tier_se(
    backend: ChatBackend,
    item: EvalItem,
    estimator: SemanticEntropy,
    *,
    max_new_tokens: int = 256,
    temperature: float = 1.0,
) -> dict[str, Any]:
    """One tier's N samples for one prompt, their clusters and SE (both formulas)."""
    messages = normalize_messages(item.prompt)
    options = GenerationOptions(
        max_new_tokens=item.max_new_tokens or max_new_tokens,
        num_samples=estimator.num_samples,
        samples_only=True,
        temperature=temperature,
        logprobs=estimator.form == "weighted",
    )
    generation = backend.generate(messages, options)
    stats = RequestStatistics(messages, generation)
    return {
        "se": estimator.uncertainty(stats),
        "entropy": estimator.entropy(stats),
        "eq2": estimator.eq2(stats),
        "clusters": list(estimator.cluster_ids(stats)),
        "samples": [a.text for a in estimator.samples(stats)],
    }


def collect_se(
    run: Run,
    items: Sequence[EvalItem],
    edge: ChatBackend,
    cloud: ChatBackend,
    *,
    edge_estimator: SemanticEntropy | None = None,
    cloud_estimator: SemanticEntropy | None = None,
    max_new_tokens: int = 256,
    progress: bool = True,
) -> dict[str, Results]:
    """SE of both tiers on every item, each stored as soon as it exists. The cloud's SE is
    discrete by default (servers rarely give log-probs); pass a weighted estimator to change it."""
    edge_se = edge_estimator or SemanticEntropy()
    cloud_se = cloud_estimator or SemanticEntropy()
    stages: list[Stage[EvalItem]] = [
        Stage(SE_EDGE, lambda i, _: tier_se(edge, i, edge_se, max_new_tokens=max_new_tokens)),
        Stage(SE_CLOUD, lambda i, _: tier_se(cloud, i, cloud_se, max_new_tokens=max_new_tokens)),
    ]
    return run_stages(run, items, stages, progress=progress)


def se_battles(
    run: Run,
    items: Sequence[EvalItem],
    *,
    edge_model: str,
    cloud_model: str,
    tau: float = 0.1,
    formula: str = "se",
) -> list[Battle]:
    """Battles from the stored SE pairs (items not yet sampled are left out)."""
    edge, cloud = run.table(SE_EDGE), run.table(SE_CLOUD)
    winners = {
        item.id: se_label(edge[item.id][formula], cloud[item.id][formula], tau)
        for item in items
        if item.id in edge and item.id in cloud
    }
    return _battles(run, items, winners, edge_model, cloud_model)


def sample_accuracy(run: Run, items: Sequence[EvalItem]) -> dict[str, tuple[float, float]]:
    """Per graded item with both tiers sampled: the share of the edge's and of the cloud's
    stored samples that are correct (the tier's expected accuracy at the sampling
    temperature); items without a reference answer or an automatic grade are left out."""
    edge, cloud = run.table(SE_EDGE), run.table(SE_CLOUD)
    rates = {}
    for item in items:
        if item.id not in edge or item.id not in cloud or item.reference is None:
            continue
        pair = []
        for table in (edge, cloud):
            grades = [grade(item, text).correct for text in table[item.id]["samples"]]
            if grades and None not in grades:  # None: no automatic grade (e.g. MT-Bench)
                pair.append(sum(map(bool, grades)) / len(grades))
        if len(pair) == 2:
            rates[item.id] = (pair[0], pair[1])
    return rates


def accuracy_battles(
    run: Run, items: Sequence[EvalItem], *, edge_model: str, cloud_model: str
) -> list[Battle]:
    """Accuracy labels (TO-Router) from the stored samples: the tier whose samples are more
    often correct wins; equal rates are a tie."""
    winners: dict[str, Winner] = {}
    for item_id, (edge, cloud) in sample_accuracy(run, items).items():
        winners[item_id] = "tie" if edge == cloud else "edge" if edge > cloud else "cloud"
    return _battles(run, items, winners, edge_model, cloud_model)


def _battles(
    run: Run,
    items: Sequence[EvalItem],
    winners: dict[str, Winner],
    edge_model: str,
    cloud_model: str,
) -> list[Battle]:
    edge, cloud = run.table(SE_EDGE), run.table(SE_CLOUD)
    battles = []
    for item in items:
        winner = winners.get(item.id)
        if winner is not None:
            battles.append(
                Battle.of(
                    item.id,
                    item.prompt,
                    winner,
                    edge_model=edge_model,
                    cloud_model=cloud_model,
                    edge_response=edge[item.id]["samples"][0],
                    cloud_response=cloud[item.id]["samples"][0],
                )
            )
    return battles

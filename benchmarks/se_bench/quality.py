"""(b) How well each estimator ranks the edge's answers: per item the staged router's two edge
calls and every estimator's confidence (stored at once, resumable), then AUROC and PRR."""

from __future__ import annotations

import argparse
import statistics
import sys
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from confidence_router.errors import ConfidenceRouterError
from confidence_router.evaluation import EvalItem, Run, Stage, grade, run_stages
from confidence_router.generation import Generation, GenerationOptions
from confidence_router.messages import ChatMessage, normalize_messages
from confidence_router.metrics import accuracy, auroc, prr
from confidence_router.uncertainty import (
    Estimator,
    LexicalSimilarity,
    MaxSequenceProbability,
    MeanTokenEntropy,
    NumSemanticSets,
    Perplexity,
    PTrue,
    RequestStatistics,
    SemanticEntropy,
)

from .common import MSP, SE, interval, print_table, timed, usable
from .store import ITEM

# the estimators' columns, in the order the tables list them
COLUMNS = (
    MSP,
    "perplexity",
    "mean_token_entropy",
    SE,
    "semantic_entropy_weighted",
    "semantic_entropy_eq2",
    "num_semantic_sets",
    "lexical_similarity",
    "p_true",
)
WHITE_BOX = (MSP, "perplexity", "mean_token_entropy", "p_true")  # no samples needed


def make_estimators(edge: Any, n: int) -> dict[str, Estimator]:
    """Every estimator, keyed by the column name. The SE variants and NumSemanticSets share the
    default equivalence (answer extraction here), so the samples are clustered once."""
    estimators: dict[str, Estimator] = {
        MSP: MaxSequenceProbability(),
        "perplexity": Perplexity(),
        "mean_token_entropy": MeanTokenEntropy(),
        SE: SemanticEntropy(num_samples=n),
        "semantic_entropy_weighted": SemanticEntropy(num_samples=n, form="weighted"),
        "semantic_entropy_eq2": SemanticEntropy(num_samples=n, formula="eq2"),
        "num_semantic_sets": NumSemanticSets(num_samples=n),
        "lexical_similarity": LexicalSimilarity(num_samples=n),
        "p_true": PTrue(edge),
    }
    assert tuple(estimators) == COLUMNS
    return estimators


def run_item(edge: Any, item: EvalItem, n: int, estimators: dict[str, Estimator]) -> dict[str, Any]:
    """The staged router's two edge calls (greedy; samples only), then every estimator."""
    msgs: list[ChatMessage] = normalize_messages(item.prompt)
    first = GenerationOptions(max_new_tokens=item.max_new_tokens, logprobs=True, entropy=True)
    t_greedy, greedy = timed(edge.generate, msgs, first)
    second = GenerationOptions(
        max_new_tokens=item.max_new_tokens,
        num_samples=n,
        samples_only=True,
        logprobs=True,
        seed=zlib.crc32(item.id.encode()),
    )
    t_samples, sampled = timed(edge.generate, msgs, second)
    generation = Generation(
        greedy=greedy.greedy, samples=sampled.samples, usage=greedy.usage + sampled.usage
    )
    stats = RequestStatistics(msgs, generation)
    scores: dict[str, float | None] = {}
    seconds: dict[str, float] = {}
    for name, estimator in estimators.items():
        try:
            seconds[name], scores[name] = timed(estimator.confidence, stats)
        except ConfidenceRouterError as exc:  # e.g. an empty greedy answer
            print(f"  {item.id}: {name} failed: {exc}", file=sys.stderr)
            scores[name] = None
    se = estimators[SE]
    assert isinstance(se, SemanticEntropy)
    try:
        equivalence = se.equivalence_for(msgs[-1].content, se.sample_texts(stats)).key
    except ConfidenceRouterError:
        equivalence = None
    graded = grade(item, greedy.greedy.text)
    return {
        "id": item.id,
        "dataset": item.dataset,
        "gold": item.reference,
        "predicted": graded.predicted,
        "correct": int(bool(graded.correct)),
        "greedy_text": greedy.greedy.text,
        "greedy_tokens": greedy.greedy.num_tokens,
        "greedy_logprobs": [round(lp, 6) for lp in greedy.greedy.token_logprobs],
        "sample_tokens": sum(s.num_tokens for s in sampled.samples),
        "prompt_tokens": greedy.usage.input_tokens,
        "t_greedy": t_greedy,
        "t_samples": t_samples,
        "t_estimators": seconds,
        "equivalence": equivalence,
        "scores": scores,
    }


def run_dataset(edge: Any, items: Sequence[EvalItem], run: Run, n: int) -> None:
    """Every item not stored yet, each stored as soon as it is computed (the shared runner)."""
    estimators = make_estimators(edge, n)
    done = run.done(ITEM)
    todo = sum(item.id not in done for item in items)
    print(
        f"{items[0].dataset}: {len(items) - todo} done, {todo} to go -> "
        f"{run.store.path} (run {run.name})",
        file=sys.stderr,
    )
    stage: Stage[EvalItem] = Stage(ITEM, lambda item, _: run_item(edge, item, n, estimators))
    run_stages(run, items, [stage])


def columns(records: Sequence[dict[str, Any]]) -> list[str]:
    """The score columns of the records: `COLUMNS` first, any others after them by name."""
    names = {name for record in records for name in record["scores"]}
    return [c for c in COLUMNS if c in names] + sorted(names - set(COLUMNS))


def quality_table(dataset: str, records: list[dict[str, Any]], args: argparse.Namespace) -> None:
    y = np.array([r["correct"] for r in records], dtype=float)
    acc = interval(accuracy, y, y, args)
    print(f"\n(b) {dataset}: n={len(records)}, edge accuracy {acc}")
    rows = []
    for name in columns(records[:1]):
        kept = usable(records, [name])
        c = np.array([r["scores"][name] for r in kept])
        yk = np.array([r["correct"] for r in kept], dtype=float)
        extra = statistics.fmean(r["t_estimators"].get(name, 0.0) for r in kept)
        if name not in WHITE_BOX:
            extra += statistics.fmean(r["t_samples"] for r in kept)
        rows.append(
            [
                name,
                str(len(kept)),
                str(interval(auroc, c, yk, args)),
                str(interval(prr, c, yk, args)),
                f"{extra:.2f}",
            ]
        )
    print_table(["estimator", "n", "AUROC [95% CI]", "PRR [95% CI]", "extra s/req"], rows)

"""Part 2 of `paper_table1.py`: the paper's whole pipeline on the local graded-gap pair.

Training prompts: 300 MMLU validation and 60 GSM8K train questions (`evaluation.data`, fixed
seed; GSM8K answers capped at 256 new tokens). Phase 1 (`training.phase1.collect_se`, resumable
in its own store): 5 samples at T = 1 from the edge (in-process) and from the cloud (the local
llama.cpp server, no log-probs), clustered by `AnswerEquivalence`, discrete SE per tier.
Phase 2: SE labels with tau = 0.1; accuracy labels (TO-Router) from the same samples: the tier
whose samples are more often correct wins, equal rates tie. Phase 3: kNN, MLP, SW ranking and
MF on all-MiniLM-L6-v2 embeddings of the prompt text (the last user message, what a
`PredictiveRouter` embeds), hyper-parameters picked on a held-out fifth of the training prompts
by concordance (Harrell's C) with the router's own labels: a router is used through thresholds,
so only the order of its scores counts (part 1 picks by held-out APGR for the same reason).
Test: the evaluation run's items (issue 6's committed run: 60 GSM8K test, 400 MMLU test), their
stored grades, latencies and cascade confidences; each predictive router's P(cloud wins) on
them; the hybrid (the best SE-label router by held-out concordance, band = the tertiles of its
held-out predictions, semantic-entropy cascade in the middle); random and oracle. One table
per data set and all together, and the plots.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from confidence_router.evaluation import EvalItem, ExtraRouter, ResultStore, Run
from confidence_router.evaluation.commands import items_from
from confidence_router.evaluation.data import load_gsm8k, load_mmlu
from confidence_router.evaluation.offline import hybrid, predictive
from confidence_router.evaluation.report import markdown, plot, summarize
from confidence_router.metrics import concordance
from confidence_router.routers import (
    EmbeddingRouter,
)
from confidence_router.routers.base import targets
from confidence_router.training.labels import Battle
from confidence_router.training.phase1 import SE_CLOUD, SE_EDGE, accuracy_battles, se_battles

sys.path.insert(0, str(Path(__file__).resolve().parent))
from router_grids import GRIDS

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("part 2 (local models)")
    group.add_argument("--eval-store", type=Path, default=RESULTS / "eval" / "eval.sqlite")
    group.add_argument("--eval-run", help="run name in the eval store (default: its only run)")
    group.add_argument(
        "--phase1-store", type=Path, default=RESULTS / "paper_table1" / "phase1.sqlite"
    )
    group.add_argument("--train-mmlu", type=int, default=300)
    group.add_argument("--train-gsm8k", type=int, default=60)
    group.add_argument("--tau", type=float, default=0.1)
    group.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    group.add_argument(
        "--hybrid-estimator", default="semantic_entropy", help="the hybrid's cascade estimator"
    )
    group.add_argument("--out", type=Path, default=RESULTS / "paper_table1" / "part2")
    group.add_argument(
        "--no-generate",
        action="store_true",
        help="generate nothing: use the training prompts phase 1 has stored (a partial table)",
    )
    group.add_argument("--edge-model", help="phase 1's edge (default: the eval run's)")
    group.add_argument("--cloud-model", help="phase 1's cloud (default: the eval run's)")
    group.add_argument("--cloud-base-url", help="phase 1's cloud server (default: started here)")


def _log_loss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


class Selected(NamedTuple):
    """A router refit on all training prompts with the setting chosen on the held-out fifth,
    and that setting's held-out concordance, log-loss and predictions (out of sample)."""

    router: EmbeddingRouter
    concordance: float
    log_loss: float
    held_out: np.ndarray


def fit_selected(kind: str, x: np.ndarray, battles: Sequence[Battle], seed: int) -> Selected:
    """The grid's best setting by concordance with the router's own labels on a held-out fifth
    of the training prompts (the labels are all a router is trained to predict; no test data;
    the first setting wins a tie), refit on all of them."""
    if len(battles) < 5:
        raise ValueError(f"need at least 5 battles to hold a fifth out, got {len(battles)}")
    winners = [b.winner for b in battles]
    y = targets(winners)
    order = np.random.default_rng(seed).permutation(len(battles))
    held, fit = order[: len(order) // 5], order[len(order) // 5 :]
    ranks, predictions = [], []
    for make in GRIDS[kind]:
        router = make().fit(x[fit], [winners[i] for i in fit])
        predictions.append(router.predict(x[held]))
        ranks.append(concordance(predictions[-1], y[held]))
    best = int(np.argmax(ranks))
    return Selected(
        GRIDS[kind][best]().fit(x, winners),
        ranks[best],
        _log_loss(predictions[best], y[held]),
        predictions[best],
    )


def phase1(
    args: argparse.Namespace, items: list[EvalItem], run: Run, config: dict[str, Any]
) -> None:
    """Sample both tiers on the training prompts (resumes; skips what is stored)."""
    missing = [
        i for i in items if run.get(i.id, SE_EDGE) is None or run.get(i.id, SE_CLOUD) is None
    ]
    if not missing or args.no_generate:
        return
    from confidence_router.demo import _cloud
    from confidence_router.models.transformers import TransformersModel
    from confidence_router.training.phase1 import collect_se

    edge = TransformersModel(
        args.edge_model or config.get("edge_spec") or config["edge"],
        dtype=config.get("edge_dtype", "float32"),
    )
    cloud_url = args.cloud_base_url or config.get("cloud_base_url")
    cloud_model = args.cloud_model or config.get("cloud_spec") or config["cloud"]
    with _cloud(cloud_url, cloud_model, sys.stderr) as cloud:
        collect_se(run, items, edge, cloud)


def run_part2(args: argparse.Namespace, embed: Any) -> int:
    started = time.perf_counter()
    with ResultStore(args.eval_store) as eval_store:
        runs = eval_store.runs()
        name = args.eval_run or (next(iter(runs)) if len(runs) == 1 else None)
        if name is None or name not in runs:
            print(
                f"part 2: pick --eval-run from {sorted(runs)} in {args.eval_store}", file=sys.stderr
            )
            return 2
        eval_run = eval_store.run(name, runs[name])
        config = eval_run.config
        train = load_mmlu("val", args.train_mmlu, seed=args.seed, root=args.datasets)
        train += load_gsm8k("train", args.train_gsm8k, seed=args.seed, root=args.datasets)
        phase1_config = {
            "edge": config["edge"],
            "cloud": config["cloud"],
            "edge_dtype": config.get("edge_dtype", "float32"),
            "samples": 5,
            "temperature": 1.0,
            "max_new_tokens": {"mmlu": train[0].max_new_tokens, "gsm8k": train[-1].max_new_tokens},
            "train": [f"mmlu:val:{args.train_mmlu}", f"gsm8k:train:{args.train_gsm8k}"],
            "seed": args.seed,
        }
        with ResultStore(args.phase1_store) as store:
            run = store.run(f"{config['edge']}__{config['cloud']}__se", phase1_config)
            phase1(args, train, run, config)
            done = run.done(SE_EDGE) & run.done(SE_CLOUD)
            print(f"\npart 2: phase 1 has {len(done)} of {len(train)} training prompts")
            if len(done) < len(train):
                if not args.no_generate or len(done) < 5:
                    print("part 2: phase 1 is incomplete", file=sys.stderr)
                    return 2
                print("part 2: PARTIAL: trained on the stored prompts only", file=sys.stderr)
                train = [i for i in train if i.id in done]
            models = {"edge_model": config["edge"], "cloud_model": config["cloud"]}
            labels = {
                "SE": se_battles(run, train, tau=args.tau, **models),
                "accuracy": accuracy_battles(run, train, **models),
            }
        if "data" not in config:
            print(f"part 2: run {name!r} does not say which data it used", file=sys.stderr)
            return 2
        test = items_from(config["data"], args.datasets, config.get("seed", 0))
        tables = _evaluate(args, embed, eval_run, train, test, labels)
    print(tables)
    print(
        f"part 2 run time (training and scoring; generation is in the stores): "
        f"{time.perf_counter() - started:.0f} s"
    )
    return 0


def _evaluate(
    args: argparse.Namespace,
    embed: Any,
    eval_run: Run,
    train: list[EvalItem],
    test: list[EvalItem],
    labels: dict[str, list[Battle]],
) -> str:
    by_id = {i.id: i for i in train}
    edge_table = eval_run.table("edge")
    graded = eval_run.done("grade")
    test = [i for i in test if i.id in graded]
    if len(test) != len(graded):
        raise ValueError(f"{len(graded) - len(test)} graded items are not in the run's data")
    if set(by_id) & graded:
        raise ValueError("training and test items overlap")
    known = {n for i in graded for n in edge_table.get(i, {}).get("scores", {})}
    if args.hybrid_estimator not in known:
        raise ValueError(f"no {args.hybrid_estimator!r} scores in the run: {sorted(known)}")
    x_test = np.asarray(embed([i.prompt for i in test]), dtype=np.float64)
    ids = [i.id for i in test]
    extra: dict[str, ExtraRouter] = {}
    chosen: tuple[float, str, np.ndarray] | None = None
    lines = [
        "| labels | router | held-out concordance | held-out log-loss "
        "| labels: edge / tie / cloud |",
        "|---|---|---|---|---|",
    ]
    for label, battles in labels.items():
        x = np.asarray(embed([by_id[b.id].prompt for b in battles]), dtype=np.float64)
        counts = [sum(b.winner == w for b in battles) for w in ("edge", "tie", "cloud")]
        for kind in GRIDS:
            selected = fit_selected(kind, x, battles, args.seed)
            name = f"{label}-label {kind}"
            extra[name] = predictive(selected.router, ids, x_test)
            lines.append(
                f"| {label} | {kind} | {selected.concordance:.3f} | {selected.log_loss:.3f} | "
                f"{' / '.join(map(str, counts))} |"
            )
            if label == "SE" and (chosen is None or selected.concordance > chosen[0]):
                chosen = (selected.concordance, kind, selected.held_out)
    assert chosen is not None
    _, kind, held_out = chosen
    band = tuple(float(q) for q in np.quantile(held_out, [1 / 3, 2 / 3]))
    confidence = {  # an edge that failed on an item has no scores: confidence 0, as in the report
        i: float(edge_table[i].get("scores", {}).get(args.hybrid_estimator, 0.0)) for i in ids
    }
    extra[f"hybrid (SE-label {kind} + cascade)"] = hybrid(
        extra[f"SE-label {kind}"].scores, confidence, (band[0], band[1])
    )
    out = [
        "## Part 2: the pipeline on the local graded-gap pair",
        "",
        f"Training prompts: {len(train)}; phase-1 labels and the routers fitted on them:",
        "",
        *lines,
        "",
        f"Hybrid: SE-label {kind} (the highest held-out concordance) with band "
        f"[{band[0]:.3f}, {band[1]:.3f}) (the tertiles of its held-out predictions), "
        f"{args.hybrid_estimator} cascade in the middle. Held-out figures are the chosen "
        "setting's on the fifth it was chosen on (optimistic). Concordance is Harrell's C "
        "against the labels (edge 0, tie 0.5, cloud 1; 0.5 is random).",
        "",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    present = [p for p in ("gsm8k/", "mmlu/") if any(i.startswith(p) for i in ids)]
    for prefix in [None, *present] if len(present) > 1 else [None]:
        report = summarize(eval_run, prefix=prefix, extra=extra, resamples=args.resamples)
        out.append(markdown(report, list_ids=prefix is not None))
        out += [f"![{p.stem}]({p.name})" for p in plot(report, args.out)] + [""]
    text = "\n".join(out)
    (args.out / "report.md").write_text(text)
    return text


if __name__ == "__main__":  # pragma: no cover - run through paper_table1.py
    sys.exit("run benchmarks/paper_table1.py")

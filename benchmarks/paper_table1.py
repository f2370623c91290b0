"""The paper's Table 1 (issue 8). Part 1: accuracy-label routers on the paper's own model pair.

Part 1 (`--routellm-only`): RouteLLM's precomputed outcomes of Mixtral-8x7B (weak = edge) and
GPT-4 (strong = cloud) on GSM8K (1,319), MMLU (14,042) and MT-Bench (80 questions x 2 turns),
decontaminated as RouteLLM does (rows whose prompt is in `contaminated_prompts.jsonl` dropped).
Labels: accuracy (TO-Router) for GSM8K and MMLU; "strong score > weak score" for MT-Bench (ties
when equal). Prompts are embedded with all-MiniLM-L6-v2 (MT-Bench: the turn's user text). Each
router (kNN, MLP, SW ranking, MF) is evaluated by 5-fold cross-validation with a fixed seed:
the out-of-fold P(strong wins) of every item gives one quality-vs-strong-share curve (qualities:
correctness, or the GPT-4 judge score on MT-Bench), hence CPT(50%), CPT(80%) and APGR
(`confidence_router.evaluation.curves`). Hyper-parameters (kNN k, MLP width, MF rank) are chosen
inside each training fold only, on a held-out fifth of it, by APGR. The paper's Random and
TO-Router rows are printed beside them. Ends with `best_cpt50_gsm8k=<n>` and
`best_cpt50_mmlu=<n>` (the best router's CPT(50%) in percent).

Part 2 (without `--routellm-only`): the full pipeline on the local graded-gap pair; see
`paper_table1_part2.py`. It needs the evaluation run (`confidence-router eval`, issue 6) in
`--eval-store` and samples both tiers on the training prompts (hours on 2 cores; resumable).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from confidence_router.evaluation.curves import Curve, random_curve, router_curve
from confidence_router.evaluation.data import datasets_root
from confidence_router.training.labels import Winner, accuracy_label

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paper_table1_part2 import add_arguments, run_part2
from router_grids import GRIDS

WEAK, STRONG = "mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"
PAPER = {  # Table 1 of the paper (CPT %, lower is better): Random and TO-Router rows
    "mt_bench": {
        "Random": (51.29, 78.55),
        "TO-Router kNN": (59.72, 90.39),
        "TO-Router MLP": (49.15, 86.67),
    },
    "gsm8k": {
        "Random": (48.79, 80.16),
        "TO-Router kNN": (47.93, 79.03),
        "TO-Router MLP": (51.03, 77.77),
    },
    "mmlu": {
        "Random": (50.04, 79.32),
        "TO-Router kNN": (43.73, 77.74),
        "TO-Router MLP": (44.01, 77.43),
    },
}


@dataclass
class Benchmark:
    name: str
    prompts: list[str]
    q_weak: np.ndarray
    q_strong: np.ndarray
    winners: list[Winner]


def _open(path: Path) -> io.TextIOBase:
    return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")


def _contaminated(folder: Path) -> set[str]:
    with _open(folder / "contaminated_prompts.jsonl.gz") as f:
        return {json.loads(line)["eval_prompt"] for line in f if line.strip()}


def _correctness(rows: list[dict[str, str]], name: str, dirty: set[str]) -> Benchmark:
    rows = [r for r in rows if r["prompt"] not in dirty]
    weak = np.array([r[WEAK] == "True" for r in rows], dtype=float)
    strong = np.array([r[STRONG] == "True" for r in rows], dtype=float)
    winners = [accuracy_label(bool(w), bool(s)) for w, s in zip(weak, strong, strict=True)]
    return Benchmark(name, [r["prompt"] for r in rows], weak, strong, winners)


def load_gsm8k(root: Path) -> Benchmark:
    folder = root / "routellm" / "routellm" / "evals" / "gsm8k"
    with _open(folder / "gsm8k_responses.csv.gz") as f:
        rows = list(csv.DictReader(f))
    return _correctness(rows, "gsm8k", _contaminated(folder))


def load_mmlu(root: Path) -> Benchmark:
    folder = root / "routellm" / "routellm" / "evals" / "mmlu"
    rows: list[dict[str, str]] = []
    for path in sorted((folder / "responses").glob("mmlu_*.csv.gz")):
        with _open(path) as f:
            rows += list(csv.DictReader(f))
    return _correctness(rows, "mmlu", _contaminated(folder))


def load_mt_bench(root: Path) -> Benchmark:
    folder = root / "routellm" / "routellm" / "evals" / "mt_bench"
    dirty = _contaminated(folder)
    with _open(root / "mt_bench" / "question.jsonl.gz") as f:
        questions = {int(q["question_id"]): q["turns"] for q in map(json.loads, f)}
    scores: dict[tuple[int, int], dict[str, float]] = {}
    with _open(folder / "judgements.jsonl.gz") as f:
        for row in map(json.loads, f):
            scores.setdefault((int(row["question_id"]), int(row["turn"])), {})[row["model"]] = (
                float(row["score"])
            )
    keys = [
        k
        for k in sorted(scores)
        if WEAK in scores[k] and STRONG in scores[k] and not (set(questions[k[0]]) & dirty)
    ]
    weak = np.array([scores[k][WEAK] for k in keys])
    strong = np.array([scores[k][STRONG] for k in keys])
    winners: list[Winner] = [
        "cloud" if s > w else "edge" if w > s else "tie" for w, s in zip(weak, strong, strict=True)
    ]
    prompts = [questions[q][t - 1] for q, t in keys]
    return Benchmark("mt_bench", prompts, weak, strong, winners)


def folds(n: int, k: int, seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return [order[i::k] for i in range(k)]


def _apgr(p: np.ndarray, b: Benchmark, idx: np.ndarray) -> float:
    return router_curve(p, b.q_weak[idx], b.q_strong[idx]).apgr()


def cross_validate(b: Benchmark, x: np.ndarray, kind: str, seed: int) -> np.ndarray:
    """Out-of-fold P(strong wins) for every item; the grid is searched inside training folds."""
    scores = np.zeros(len(b.prompts))
    winners = np.array(b.winners)
    for test in folds(len(b.prompts), 5, seed):
        train = np.setdiff1d(np.arange(len(b.prompts)), test)
        grid = GRIDS[kind]
        best = grid[0]
        if len(grid) > 1:
            inner = np.random.default_rng(seed + 1).permutation(train)
            held, fit = inner[: len(inner) // 5], inner[len(inner) // 5 :]
            results = []
            for make in grid:
                router = make().fit(x[fit], list(winners[fit]))
                results.append(_apgr(router.predict(x[held]), b, held))
            best = grid[int(np.nanargmax(results))]
        router = best().fit(x[train], list(winners[train]))
        scores[test] = router.predict(x[test])
    return scores


def row(name: str, curve: Curve) -> tuple[str, float, float, float]:
    return name, 100 * curve.cpt(0.5), 100 * curve.cpt(0.8), curve.apgr()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--routellm-only", action="store_true", help="part 1 only")
    parser.add_argument("--part2-only", action="store_true", help="skip part 1")
    parser.add_argument("--datasets", help="the data folder (default: the kit)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--benchmarks", nargs="+", default=["gsm8k", "mmlu", "mt_bench"])
    add_arguments(parser)
    args = parser.parse_args()
    if args.routellm_only and args.part2_only:
        parser.error("--routellm-only and --part2-only exclude each other")
    from confidence_router.embeddings import MiniLMEmbedder

    started = time.perf_counter()
    root = datasets_root(args.datasets)
    embed = MiniLMEmbedder()
    loaders = {"gsm8k": load_gsm8k, "mmlu": load_mmlu, "mt_bench": load_mt_bench}
    best: dict[str, float] = {}
    for name in [] if args.part2_only else args.benchmarks:
        bench = loaders[name](root)
        x = np.asarray(embed(bench.prompts), dtype=np.float64)
        print(
            f"\n{name}: {len(bench.prompts)} items (decontaminated), "
            f"weak {bench.q_weak.mean():.3f}, strong {bench.q_strong.mean():.3f}"
        )
        rows = [row("Random (ours, expected)", random_curve(bench.q_weak, bench.q_strong))]
        for kind in GRIDS:
            p = cross_validate(bench, x, kind, args.seed)
            rows.append(
                row(f"accuracy-label {kind}", router_curve(p, bench.q_weak, bench.q_strong))
            )
        print(f"{'router':<36} {'CPT(50%)':>9} {'CPT(80%)':>9} {'APGR':>7}")
        for label, c50, c80, apgr in rows:
            print(f"{label:<36} {c50:>9.2f} {c80:>9.2f} {apgr:>7.3f}")
        for label, (c50, c80) in PAPER[name].items():
            print(f"{'paper: ' + label:<36} {c50:>9.2f} {c80:>9.2f} {'':>7}")
        best[name] = min(c50 for label, c50, _, _ in rows[1:])
    if not args.part2_only:
        print(f"\npart 1 run time: {time.perf_counter() - started:.0f} s")
    for name in ("gsm8k", "mmlu"):
        if name in best:
            print(f"best_cpt50_{name}={best[name]:.2f}")
    return 0 if args.routellm_only else run_part2(args, embed)


if __name__ == "__main__":
    sys.exit(main())

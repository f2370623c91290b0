"""Semantic entropy: what it costs, how well each estimator ranks answers, what staging saves.

Three tables (issue 3, item 6):

(a) Cost, on the default edge (SmolLM2-135M-Instruct) in its default dtype (float32), in one
    process: wall time of SE sampling with N samples batched with the greedy answer (one
    `generate`, the prompt prefilled once) vs one greedy generation of the same length (EOS off,
    so every row decodes exactly --cost-tokens tokens); the samples-only call that staged
    escalation makes; sequential sampling (greedy + N one-sample calls); entailment (clustering
    the N samples with the default equivalence) timed apart. Prints `se_cost_ratio=<batched /
    greedy>` (target <= 2.0) and `batched_vs_sequential=<batched / sequential>`.
(b) Quality, on the graded-gap edge (Qwen2.5-Coder-0.5B-Instruct): every estimator's AUROC and
    PRR of confidence against the correctness of the greedy answer, on --mmlu MMLU validation and
    --gsm8k GSM8K train questions (GSM8K capped at 256 new tokens), the edge's accuracy beside
    them, all with bootstrap 95% intervals (`confidence_router.metrics`).
(c) Staged escalation and early exit, replayed offline from (b)'s records (the greedy call of
    (b) is exactly the staged router's first call, its samples-only call the second, and early
    exit is a deterministic function of the greedy log-probs): share of requests that needed SE,
    greedy/edge tokens saved, edge cost relative to always-SE, each with its AUROC, and the
    smallest SE share whose AUROC is within --auroc-tolerance of always-SE's.

Cost in (c): per request, the measured wall time of the greedy call (t_g) and of the
samples-only call (t_s). Always-SE is the unstaged router's single batched call, estimated as
t_g x (batched / greedy) measured on the same model at fixed length (stored as
cost_<model>.json); staged = t_g + t_s inside the band; an early exit after k of L greedy tokens
costs k / L of its call (no samples).

Resumable: each item's result goes to the shared SQLite `ResultStore`
(`<--results-dir>/semantic_entropy.sqlite`, one run per model, dtype, data set, N, token cap
and prompt version) as soon as it is computed; a rerun with the same settings skips the items
already there; cost measurements are kept as JSON (--redo-cost measures again).
`--report-only` prints the tables from stored results without loading a model (or writing
anything). The code is in `se_bench/`.

Data: MMLU and GSM8K through `confidence_router.evaluation.data`, from ../shared/datasets (next
to the repository; see its README), or --datasets / $CONFIDENCE_ROUTER_DATASETS.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from confidence_router.errors import ConfigurationError
from confidence_router.evaluation import EvalItem, datasets_root, load_gsm8k, load_mmlu

sys.path.insert(0, str(Path(__file__).resolve().parent))
from se_bench.common import COST_PROMPTS, load_edge
from se_bench.cost import cached_cost, cost_file, cost_table, measure_cost
from se_bench.quality import quality_table, run_dataset
from se_bench.staged import staged_table
from se_bench.store import ITEM, get_run, open_store, records, run_config, run_name

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RESULTS = REPO / "benchmarks" / "out" / "semantic_entropy"
COMMITTED_RESULTS = REPO / "benchmarks" / "results" / "semantic_entropy"


def load_items(args: argparse.Namespace) -> dict[str, list[EvalItem]]:
    """--mmlu validation and --gsm8k train questions, drawn with --seed (the shared loaders)."""
    try:
        root = datasets_root(args.datasets)
        return {
            "mmlu": load_mmlu(
                "val", args.mmlu, seed=args.seed, root=root, max_new_tokens=args.mmlu_tokens
            )
            if args.mmlu > 0
            else [],
            "gsm8k": load_gsm8k(
                "train", args.gsm8k, seed=args.seed, root=root, max_new_tokens=args.gsm8k_tokens
            )
            if args.gsm8k > 0
            else [],
        }
    except ConfigurationError as exc:
        sys.exit(f"{exc}: pass --datasets or set CONFIDENCE_ROUTER_DATASETS")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--parts", nargs="+", choices=["a", "b", "c"], default=["a", "b", "c"])
    p.add_argument(
        "--report-only",
        action="store_true",
        help="print the tables from stored results; load no model",
    )
    p.add_argument(
        "--datasets",
        help="folder with mmlu/ and gsm8k/ "
        "(default: $CONFIDENCE_ROUTER_DATASETS or ../shared/datasets)",
    )
    p.add_argument(
        "--results-dir",
        type=Path,
        default=DEFAULT_RESULTS,
        help=f"the store and cost files (committed ones: {COMMITTED_RESULTS.relative_to(REPO)})",
    )
    p.add_argument("--samples", type=int, default=5, help="N, samples per request")
    p.add_argument(
        "--dtype",
        default="float32",
        choices=["bfloat16", "float32", "float16"],
        help="the edge's dtype (float32 is TransformersModel's default)",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--cost-model", default="smollm2-135m-instruct")
    p.add_argument("--cost-tokens", type=int, default=64)
    p.add_argument("--cost-rounds", type=int, default=2)
    p.add_argument("--redo-cost", action="store_true")
    p.add_argument(
        "--model", default="qwen2.5-coder-0.5b-instruct", help="the edge for (b) and (c)"
    )
    p.add_argument("--mmlu", type=int, default=200)
    p.add_argument("--gsm8k", type=int, default=50)
    p.add_argument("--mmlu-tokens", type=int, default=32)
    p.add_argument("--gsm8k-tokens", type=int, default=256)
    p.add_argument(
        "--rho-tokens",
        type=int,
        default=32,
        help="fixed length of the batched/greedy cost measurement for (c)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--se-shares", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.5, 0.7])
    p.add_argument("--auroc-tolerance", type=float, default=0.01)
    p.add_argument("--floors", type=float, nargs="+", default=[0.6, 0.65, 0.7])
    p.add_argument("--min-tokens", type=int, default=4)
    p.add_argument("--window", type=int, default=None)
    return p.parse_args(argv)


def part_a(args: argparse.Namespace, summary: list[str]) -> None:
    path = cost_file(args.results_dir, args.cost_model, args.dtype, args.cost_tokens, args.samples)
    if args.report_only and not path.exists():
        print(f"\n(a) no stored cost measurement at {path}")
        return

    def measure_a() -> dict[str, Any]:
        edge = load_edge(args.cost_model, args)
        cost = measure_cost(
            edge, COST_PROMPTS, args.cost_tokens, args.cost_rounds, args.samples, full=True
        )
        del edge
        gc.collect()
        return cost

    cost = cached_cost(path, args.redo_cost, measure_a)
    cost_table(cost)
    summary.append(f"se_cost_ratio={cost['batched_s'] / cost['greedy_s']:.3f}")


def parts_bc(args: argparse.Namespace, parts: set[str]) -> None:
    results: Path = args.results_dir
    items = load_items(args)
    tokens = {"mmlu": args.mmlu_tokens, "gsm8k": args.gsm8k_tokens}
    configs = {d: run_config(args.model, args.dtype, d, args.samples, tokens[d]) for d in items}
    store = open_store(results, create=not args.report_only)
    try:
        runs = {d: get_run(store, configs[d], create=not args.report_only) for d in items}
        rho_path = cost_file(results, args.model, args.dtype, args.rho_tokens, args.samples)
        edge = None
        needs_items = any(
            run is not None and bool({i.id for i in items[d]} - run.done(ITEM))
            for d, run in runs.items()
        )
        needs_rho = "c" in parts and (args.redo_cost or not rho_path.exists())
        if not args.report_only and (needs_items or needs_rho):
            edge = load_edge(args.model, args)
            if needs_items:
                for dataset, chosen in items.items():
                    run = runs[dataset]
                    if chosen and run is not None:
                        run_dataset(edge, chosen, run, args.samples)
        rho_b = math.nan
        if "c" in parts and (edge is not None or rho_path.exists()):
            cost = cached_cost(
                rho_path,
                args.redo_cost,
                lambda: measure_cost(
                    edge, COST_PROMPTS[:3], args.rho_tokens, 1, args.samples, full=False
                ),
            )
            rho_b = cost["batched_s"] / cost["greedy_s"]
        for dataset, chosen in items.items():
            if not chosen:
                continue
            found = records(runs[dataset], {i.id for i in chosen})
            if not found:
                print(f"\n{dataset}: no results yet in {results} ({run_name(configs[dataset])})")
                continue
            if "b" in parts:
                quality_table(dataset, found, args)
            if "c" in parts:
                if math.isnan(rho_b):
                    print(f"\n(c) {dataset}: no batched/greedy cost measurement at {rho_path}")
                else:
                    staged_table(dataset, found, rho_b, args)
    finally:
        if store is not None:
            store.close()


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    parts = set(args.parts)
    summary: list[str] = []
    if "a" in parts:
        part_a(args, summary)
    if parts & {"b", "c"}:
        parts_bc(args, parts)
    for line in summary:
        print(line)


if __name__ == "__main__":
    main()

"""Three local tiers: does a cheaper tier in front of a two-tier cascade pay off?

Tier 0: SmolLM2-135M-Instruct in-process (llama.cpp), generated here: the greedy answer with the
white-box statistics, scored by the same code the evaluation job uses for its edge
(`evaluation.job`: same prompts, token caps and options), graded by the same grader, timed, and
stored item by item in `<out-dir>/three_tiers.sqlite` (a rerun resumes). Tiers 1 and 2:
Qwen2.5-Coder-0.5B (in-process) and Qwen2.5-Coder-1.5B (local server), read from a stored
evaluation run (default: the fast-edge run in `benchmarks/results/eval/eval.sqlite`, opened
read-only): the edge's greedy answer, its estimator scores and `greedy_s`, the cloud's answer
and `latency_s`, and both grades. Items: the run's first `--mmlu` MMLU and `--gsm8k` GSM8K test
items (its own order) that have both tiers stored.

Cost per item = measured compute seconds of what the cascade needs of a tier (tiers 0 and 1:
the greedy answer, all a white-box estimator needs; tier 2: the cloud call), or with `--prices`
a price per million output tokens per tier. Per source and pooled: each tier alone, the
three-tier frontier, every pair's frontier and the best of them (`evaluation.tiers`), and
whether the three-tier frontier is never below each; `report.md` and one PNG per source.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sqlite3
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from confidence_router.errors import ConfigurationError
from confidence_router.evaluation import EvalItem, ResultStore, Stage, grade, run_stages
from confidence_router.evaluation.commands import items_from
from confidence_router.evaluation.job import edge_result, run_config
from confidence_router.evaluation.tiers import (
    Frontier,
    TierOutcomes,
    alone,
    compare,
    format_point,
    frontier,
    merged,
    pair_frontiers,
)
from confidence_router.generation import Usage
from confidence_router.models.base import ChatBackend
from confidence_router.routing import CascadeRouter
from confidence_router.routing.decision import Pricing
from confidence_router.routing.no_cloud import NoCloud

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SOURCE_RUN = "fast-edge__qwen2.5-coder-0.5b__qwen2.5-coder-1.5b"
TIER0_MODEL = "smollm2-135m-instruct"
TIER0_RUN = "tier0"
# scored on tier 0; the fast-edge run stores both for tier 1 (and semantic entropy, which
# needs samples tier 0 does not generate)
ESTIMATORS = ("max_sequence_probability", "mean_token_entropy")
LABELS = ("T0", "T1", "T2")


def read_run(path: Path, run: str) -> tuple[dict[str, Any], dict[str, dict[str, dict[str, Any]]]]:
    """A stored run's config and {kind: {item: result}}, read without writing to the store
    (another process may be adding to it)."""
    if not path.exists():
        raise ConfigurationError("eval_store", f"{path} does not exist")
    db = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        row = db.execute("SELECT config FROM runs WHERE name = ?", (run,)).fetchone()
        if row is None:
            names = [r[0] for r in db.execute("SELECT name FROM runs")]
            raise ConfigurationError("run", f"no run {run!r} in {path}: {names}")
        rows = db.execute(
            "SELECT item, kind, payload FROM results WHERE run = ? ORDER BY rowid", (run,)
        ).fetchall()
    finally:
        db.close()
    tables: dict[str, dict[str, dict[str, Any]]] = {}
    for item, kind, payload in rows:
        tables.setdefault(kind, {})[item] = json.loads(payload)
    return json.loads(row[0]), tables


def pick(
    order: Sequence[EvalItem], tables: Mapping[str, Mapping[str, Any]], counts: Mapping[str, int]
) -> list[EvalItem]:
    """The first `counts[dataset]` items of `order` with both tiers' answers and grades stored."""
    grades, edge, cloud = (tables.get(k, {}) for k in ("grade", "edge", "cloud"))
    taken = dict.fromkeys(counts, 0)
    out = []
    for item in order:
        g = grades.get(item.id)
        if item.dataset not in counts or taken[item.dataset] >= counts[item.dataset]:
            continue
        if g is None or g.get("edge") is None or g.get("cloud") is None:
            continue
        if item.id in edge and item.id in cloud:
            out.append(item)
            taken[item.dataset] += 1
    return out


def _grade(item: EvalItem, text: str | None) -> dict[str, Any]:
    if text is None:
        return {"edge": 0.0}  # no answer: the worst grade, as the evaluation job grades it
    verdict = grade(item, text)
    correct = None if verdict.correct is None else float(verdict.correct)
    return {"edge": correct, "edge_predicted": verdict.predicted}


def generate(
    store: Path, items: Sequence[EvalItem], backend: ChatBackend, *, progress: bool = True
) -> dict[str, dict[str, dict[str, Any]]]:
    """Tier 0's answer (as the evaluation job assesses its edge) and grade per item, each
    stored as soon as it exists; what is stored is not generated again."""
    router = CascadeRouter(
        backend, NoCloud(), estimator=ESTIMATORS[0], extra_estimators=ESTIMATORS[1:]
    )
    stages: list[Stage[EvalItem]] = [
        Stage("edge", lambda item, _: edge_result(router.edge, router.policy, item)),
        Stage("grade", lambda item, results: _grade(item, results["edge"].get("text"))),
    ]
    with ResultStore(store) as results:
        run = results.run(TIER0_RUN, run_config(router))
        run_stages(run, items, stages, progress=progress)
        return {"edge": run.table("edge"), "grade": run.table("grade"), "config": run.config}


def stored(store: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """What tier 0 has stored (`--no-generate`)."""
    if not store.exists():
        raise ConfigurationError("store", f"{store} does not exist: run without --no-generate")
    with ResultStore(store) as results:
        runs = results.runs()
        if TIER0_RUN not in runs:
            raise ConfigurationError("store", f"no run {TIER0_RUN!r} in {store}")
        run = results.run(TIER0_RUN, runs[TIER0_RUN])
        return {"edge": run.table("edge"), "grade": run.table("grade"), "config": run.config}


def _cost(result: Mapping[str, Any], estimator: str, pricing: Pricing | None) -> float:
    if pricing is not None:
        return pricing.cost(Usage(output_tokens=int(result.get("tokens", 0))))
    if estimator in result.get("sampled", ()):  # the estimator needs the samples too
        return float(result.get("latency_s", 0.0))
    return float(result.get("greedy_s", result.get("latency_s", 0.0)))


def tier_outcomes(
    items: Sequence[EvalItem],
    tier0: Mapping[str, Mapping[str, Any]],
    tables: Mapping[str, Mapping[str, Any]],
    estimator: str,
    names: Sequence[str],
    prices: Mapping[str, Mapping[str, float]] | None,
) -> TierOutcomes:
    """Tiers 0 (`tier0`: its edge and grade tables), 1 (the run's edge) and 2 (its cloud) on
    `items` that tier 0 has answered. `prices`: {tier name: `Pricing` fields} per tier."""
    pricing: list[Pricing | None] = [None] * 3
    if prices is not None:
        missing = [n for n in names if n not in prices]
        if missing:
            raise ConfigurationError("prices", f"no price for {missing}")
        pricing = [Pricing(**prices[n]) for n in names]
        if any(p.input_per_million for p in pricing if p is not None):
            raise ConfigurationError(
                "prices", "the stored results count output tokens only: price those alone"
            )
    edges = (tier0["edge"], tables["edge"])
    for name, edge in zip(names, edges, strict=False):
        if not any(estimator in r.get("scores", {}) for r in edge.values()):
            raise ConfigurationError("estimator", f"no {estimator} scores stored for {name}")
    return TierOutcomes.from_maps(
        names,
        [{i: float(g["edge"]) for i, g in tier0["grade"].items() if g.get("edge") is not None}]
        + [{i: float(g[k]) for i, g in tables["grade"].items()} for k in ("edge", "cloud")],
        [{i: float(r.get("scores", {}).get(estimator, 0.0)) for i, r in e.items()} for e in edges],
        [
            {i: _cost(r, estimator, p) for i, r in t.items()}
            for t, p in zip((*edges, tables["cloud"]), pricing, strict=True)
        ],
        ids=[item.id for item in items],
    )


def _frontier_row(points: Frontier) -> str:
    return ", ".join(f"{p.cost:.3g}: {p.accuracy:.3f}" for p in points.points)


def _plot(
    o: TierOutcomes,
    names: Sequence[str],
    fronts: Mapping[str, Frontier],
    title: str,
    path: Path,
    unit: str,
) -> bool:
    """Cost vs accuracy: each frontier as a step function, each tier alone as a square."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(7.0, 4.5))
    for label, f in fronts.items():
        xs, ys = [p.cost for p in f.points], [p.accuracy for p in f.points]
        style = {"lw": 2.2, "color": "black"} if label == "three tiers" else {"lw": 1.2}
        ax.step(xs, ys, where="post", marker="o", ms=3, label=label, **style)
    for k in range(len(o.names)):
        p = alone(o, k)
        ax.scatter([p.cost], [p.accuracy], marker="s", s=40, zorder=3)
        ax.annotate(f"{LABELS[k]} {names[k]}", (p.cost, p.accuracy), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel(f"mean cost per item ({unit}, log scale)")
    ax.set_ylabel("accuracy")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def report(
    o: TierOutcomes,
    items: Sequence[EvalItem],
    out_dir: Path,
    *,
    levels: int = 21,
    note: str = "",
    unit: str = "s",
) -> tuple[str, list[str]]:
    """report.md (pooled, then per source) and the summary lines."""
    out_dir.mkdir(parents=True, exist_ok=True)
    legend = ", ".join(f"{lab} = {n}" for lab, n in zip(LABELS, o.names, strict=True))
    text = ["# Three tiers", "", note, "", f"Tiers: {legend}.", ""]
    lines = [f"tiers: {legend}"]
    dataset = {item.id: item.dataset for item in items}
    sources = {"all": list(o.ids)}
    for name in sorted({dataset[i] for i in o.ids}):
        sources[name] = [i for i in o.ids if dataset[i] == name]
    short = dataclasses.replace(o, names=LABELS)  # T0, T1, T2 in the tables
    for source, ids in sources.items():
        sub = short.select(ids)
        three = frontier(sub, levels)
        pairs = {LABELS[i] + LABELS[j]: f for (i, j), f in pair_frontiers(sub, levels).items()}
        best = merged(list(pairs.values()))
        text += [
            f"## {source} ({len(ids)} items)",
            "",
            f"| tier | accuracy | mean cost ({unit}) |",
            "|---|---|---|",
        ]
        singles = []
        for k, name in enumerate(o.names):
            p = alone(sub, k)
            text.append(f"| {LABELS[k]} {name} | {p.accuracy:.3f} | {p.cost:.4g} |")
            singles.append(f"acc_{LABELS[k]}={p.accuracy:.4f} cost_{LABELS[k]}={p.cost:.4g}")
        lines.append(f"[{source}] items={len(ids)} " + " ".join(singles))
        text += [
            "",
            "Three-tier frontier (threshold per tier; a tier alone is a point too):",
            "",
            f"| cascade | mean cost ({unit}) | accuracy | answered by T0 / T1 / T2 |",
            "|---|---|---|---|",
        ]
        for p in three.points:
            shares = " / ".join(f"{s:.2f}" for s in p.shares) if len(p.tiers) == 3 else "alone"
            text.append(f"| {format_point(p)} | {p.cost:.4g} | {p.accuracy:.3f} | {shares} |")
        text += ["", f"Pair frontiers (mean cost: accuracy, cost in {unit}):", ""]
        text += [f"- {label}: {_frontier_row(f)}" for label, f in pairs.items()]
        text += [f"- best pair (any of them): {_frontier_row(best)}", ""]
        text += [
            "Three tiers against each (best accuracy at equal or lower cost, at every cost of "
            "either frontier from the pair's cheapest on):",
            "",
            "| against | three tiers never below | max gain | at cost | max shortfall | at cost |",
            "|---|---|---|---|---|---|",
        ]
        for label, f in [*pairs.items(), ("best_pair", best)]:
            c = compare(three, f)
            up = max(c.gaps, key=lambda g: g.gain)
            down = min(c.gaps, key=lambda g: g.gain)
            at_up = f"{up.cost:.4g}" if c.max_gain > 0 else "-"
            at_down = f"{down.cost:.4g}" if c.max_shortfall > 0 else "-"
            text.append(
                f"| {label} | {'yes' if c.dominates else 'no'} | {c.max_gain:.3f} | {at_up} | "
                f"{c.max_shortfall:.3f} | {at_down} |"
            )
            lines.append(
                f"[{source}] three_tier_dominates_{label}={str(c.dominates).lower()} "
                f"max_gain={c.max_gain:.4f} max_shortfall={c.max_shortfall:.4f}"
            )
        png = out_dir / f"three_tiers_{source}.png"
        fronts = {"three tiers": three, **pairs}
        if _plot(sub, o.names, fronts, f"{source}: {len(ids)} items", png, unit):
            text += ["", f"![{source}]({png.name})"]
        text.append("")
    (out_dir / "report.md").write_text("\n".join(text))
    return "\n".join(text), lines


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--eval-store", type=Path, default=RESULTS / "eval" / "eval.sqlite")
    p.add_argument("--run", default=SOURCE_RUN, help="the run holding tiers 1 and 2")
    p.add_argument("--datasets", help="the data folder (default: as `confidence-router eval`)")
    p.add_argument("--mmlu", type=int, default=400, help="MMLU test items (run order)")
    p.add_argument("--gsm8k", type=int, default=100, help="GSM8K test items (run order)")
    p.add_argument("--out-dir", type=Path, default=RESULTS / "three_tiers")
    p.add_argument("--estimator", choices=ESTIMATORS, default=ESTIMATORS[0])
    p.add_argument("--levels", type=int, default=21, help="threshold quantile levels per tier")
    p.add_argument(
        "--prices",
        help='JSON (or a .json file): {tier model name: {"output_per_million": x}} for every '
        "tier; cost is then price, not measured seconds",
    )
    p.add_argument("--no-generate", action="store_true", help="report what tier 0 has stored")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    config, tables = read_run(args.eval_store, args.run)
    order = items_from(list(config["data"]), args.datasets, int(config["seed"]))
    counts = {"mmlu": args.mmlu, "gsm8k": args.gsm8k}
    items = pick(order, tables, counts)
    found = {d: sum(i.dataset == d for i in items) for d in counts}
    print(f"{args.run}: both tiers stored for " + ", ".join(f"{d}={n}" for d, n in found.items()))
    store = args.out_dir / "three_tiers.sqlite"
    if args.no_generate:
        tier0 = stored(store)
    else:
        from confidence_router.models.llama_cpp import LlamaCppModel

        tier0 = generate(store, items, LlamaCppModel(TIER0_MODEL))
    names = (str(tier0["config"]["edge"]), str(config["edge"]), str(config["cloud"]))
    prices = None
    if args.prices:
        source = Path(args.prices)
        prices = json.loads(source.read_text() if source.suffix == ".json" else args.prices)
    o = tier_outcomes(items, tier0, tables, args.estimator, names, prices)
    answered = set(o.ids)
    used = {d: sum(i.dataset == d and i.id in answered for i in items) for d in counts}
    reused = sum("reused_from" in tables["cloud"][i] for i in o.ids)
    print(
        f"with tier 0 answered: {len(o.ids)} items ("
        + ", ".join(f"{d}={n}" for d, n in used.items())
        + ")"
    )
    note = (
        f"Tiers 1-2 from run `{args.run}` of `{args.eval_store.name}`; tier 0 generated here "
        f"(`{store.name}`). {len(o.ids)} items: "
        + ", ".join(f"{n} {d}" for d, n in used.items())
        + f" (asked: {args.mmlu} MMLU, {args.gsm8k} GSM8K, the run's first with both tiers "
        f"stored). Deciding estimator for T0 and T1: {args.estimator}; thresholds swept over "
        f"{args.levels} quantiles of each tier's confidence. Cost: "
        + (
            "price per item from stored output tokens."
            if prices
            else "measured seconds "
            "(T0, T1: the greedy answer; T2: the cloud call), summed over the tiers visited; "
            "T0 timed when generated here, T1 and T2 as the evaluation run stored them "
            f"({reused} of the T2 answers and times reused there from an earlier run)."
        )
    )
    _, lines = report(
        o, items, args.out_dir, levels=args.levels, note=note, unit="price" if prices else "s"
    )
    print("\n".join(lines))
    print(f"report: {args.out_dir / 'report.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()

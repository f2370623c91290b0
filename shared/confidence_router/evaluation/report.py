"""Metrics from a stored evaluation run, free to recompute: per router CPT(50%), CPT(80%), APGR
and AUC with bootstrap 95% intervals (random and oracle beside them), and latency per route and
end to end at each operating point; a Markdown report and PNG plots."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from confidence_router.errors import ConfigurationError, InvalidInputError
from confidence_router.evaluation.curves import Curve, oracle_curve, random_curve, router_curve
from confidence_router.evaluation.job import CLOUD, EDGE, GRADE
from confidence_router.evaluation.store import Run
from confidence_router.metrics import Interval

Floats = npt.NDArray[np.float64]
SHARES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0)  # 0.1-0.5: where cascades pay off
RANDOM, ORACLE = "random", "oracle"


@dataclass(frozen=True)
class Outcomes:
    """Per item, aligned: qualities of both tiers, each estimator's edge confidence, latencies.

    `t_edge` is the edge's whole assessment (greedy answer and samples), `t_greedy` the greedy
    answer alone; `sampled` names the estimators that need the samples (they pay `t_edge`, the
    others `t_greedy`). Runs stored before the split have `t_greedy == t_edge`."""

    ids: list[str]
    q_edge: Floats
    q_cloud: Floats
    confidence: dict[str, Floats]
    t_edge: Floats
    t_cloud: Floats
    skipped: list[str] = field(default_factory=list)
    extra: dict[str, Floats] = field(default_factory=dict)
    edge_first: dict[str, npt.NDArray[np.bool_]] = field(default_factory=dict)
    t_greedy: Floats | None = None
    sampled: frozenset[str] = frozenset()
    extra_sampled: frozenset[str] = frozenset()
    reused: int = 0  # cloud answers taken from another run (`evaluate(reuse_cloud=...)`)
    reused_from: tuple[str, ...] = ()

    def edge_time(self, name: str) -> Floats:
        """What router `name` pays for the edge on an item where it runs the edge."""
        sampled = name in self.extra_sampled if name in self.extra else name in self.sampled
        if self.t_greedy is None or sampled:
            return self.t_edge
        return self.t_greedy


@dataclass(frozen=True)
class ExtraRouter:
    """A router scored outside the run (a predictive or hybrid router): its escalation score per
    item id (higher: cloud) and, per item, whether it runs the edge before deciding (a
    predictive router never does; a hybrid does in its uncertain band). Items it sends to the
    cloud without the edge pay only the cloud's time."""

    scores: Mapping[str, float]
    edge_first: Mapping[str, bool] = field(default_factory=dict)
    samples: bool = False  # where it runs the edge, it also needs the edge's samples


@dataclass(frozen=True)
class RouterRow:
    name: str
    cpt50: Interval
    cpt80: Interval
    apgr: Interval
    auc: Interval


@dataclass(frozen=True)
class LatencyRow:
    """End-to-end latency (s) of a router at one cloud share; a cascade pays the edge's time on
    escalated items too."""

    router: str
    share: float
    p50: float
    p95: float


@dataclass(frozen=True)
class Report:
    name: str
    outcomes: Outcomes
    routers: list[RouterRow]
    curves: dict[str, Curve]
    latency: list[LatencyRow]


def outcomes(
    run: Run, prefix: str | None = None, extra: Mapping[str, ExtraRouter] | None = None
) -> Outcomes:
    """The items of `run` (ids starting with `prefix`, e.g. "gsm8k/") that have both answers
    graded; items whose grade is missing (an unparseable judge verdict) are listed as skipped.
    `extra` routers must score every such item."""
    edge, cloud, grades = run.table(EDGE), run.table(CLOUD), run.table(GRADE)
    ids, skipped = [], []
    for item in grades:
        if prefix is not None and not item.startswith(prefix):
            continue
        g = grades[item]
        if g.get(EDGE) is None or g.get(CLOUD) is None or item not in edge or item not in cloud:
            skipped.append(item)
        else:
            ids.append(item)
    if not ids:
        raise InvalidInputError(
            f"run {run.name!r} has no graded items" + (f" under {prefix}" if prefix else "")
        )
    names = sorted({name for i in ids for name in edge[i].get("scores", {})})
    confidence = {
        name: np.array([edge[i].get("scores", {}).get(name, 0.0) for i in ids], dtype=float)
        for name in names
    }
    extra = extra or {}
    for name, router in extra.items():
        if name in names or name in (RANDOM, ORACLE):
            raise InvalidInputError(f"router name {name!r} is taken by a built-in row")
        missing = [i for i in ids if i not in router.scores]
        if missing:
            raise InvalidInputError(f"router {name!r} has no score for {len(missing)} items")
    split = all("greedy_s" in edge[i] for i in ids)  # runs stored before the split: no
    return Outcomes(
        ids,
        np.array([grades[i][EDGE] for i in ids], dtype=float),
        np.array([grades[i][CLOUD] for i in ids], dtype=float),
        confidence,
        np.array([edge[i].get("latency_s", 0.0) for i in ids], dtype=float),
        np.array([cloud[i].get("latency_s", 0.0) for i in ids], dtype=float),
        skipped,
        {n: np.array([r.scores[i] for i in ids], dtype=float) for n, r in extra.items()},
        {n: np.array([r.edge_first.get(i, False) for i in ids]) for n, r in extra.items()},
        np.array([edge[i]["greedy_s"] for i in ids], dtype=float) if split else None,
        frozenset(name for i in ids for name in edge[i].get("sampled", ())),
        frozenset(n for n, r in extra.items() if r.samples),
        sum("reused_from" in cloud[i] for i in ids),
        tuple(sorted({cloud[i]["reused_from"] for i in ids if "reused_from" in cloud[i]})),
    )


METRICS: tuple[Callable[[Curve], float], ...] = (
    lambda c: c.cpt(0.5),
    lambda c: c.cpt(0.8),
    Curve.apgr,
    Curve.auc,
)


def _intervals(
    curve: Callable[[npt.NDArray[np.intp]], Curve], n: int, resamples: int, seed: int
) -> list[Interval]:
    """Each of `METRICS` on the data with a percentile-bootstrap 95% interval (one curve per
    resample, every metric read off it; the same resamples for every router)."""
    full = curve(np.arange(n))
    draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    values = np.array([[m(c) for m in METRICS] for c in map(curve, draws)], dtype=float).reshape(
        resamples, len(METRICS)
    )
    out = []
    for k, metric in enumerate(METRICS):
        column = values[:, k][~np.isnan(values[:, k])]
        if column.size == 0:
            out.append(Interval(metric(full), math.nan, math.nan))
            continue
        low, high = np.percentile(column, [2.5, 97.5])
        out.append(Interval(metric(full), float(low), float(high)))
    return out


def _curve_fn(o: Outcomes, name: str) -> Callable[[npt.NDArray[np.intp]], Curve]:
    if name == RANDOM:
        return lambda i: random_curve(o.q_edge[i], o.q_cloud[i])
    if name == ORACLE:
        return lambda i: oracle_curve(o.q_edge[i], o.q_cloud[i])
    escalate = o.extra[name] if name in o.extra else 1.0 - o.confidence[name]
    return lambda i: router_curve(escalate[i], o.q_edge[i], o.q_cloud[i])


def _latency(o: Outcomes, name: str) -> list[LatencyRow]:
    """End-to-end latency at each share of `SHARES` for router `name`: a cascade pays the edge
    on every item and the cloud on escalated ones; an extra router pays the edge only where it
    answers there or runs the edge first. The edge's time is what the router needs of it
    (`Outcomes.edge_time`: the greedy answer, plus the samples for a sampling estimator)."""
    rows = []
    escalate = o.extra[name] if name in o.extra else 1.0 - o.confidence[name]
    edge_first = o.edge_first[name] if name in o.extra else np.ones(len(o.ids), dtype=bool)
    # highest score first; equal scores in a seeded random order (the curve sends them together)
    tiebreak = np.random.default_rng(0).permutation(len(o.ids))
    order = np.lexsort((tiebreak, -escalate))
    for share in SHARES:
        k = round(share * len(o.ids))
        escalated = np.zeros(len(o.ids), dtype=bool)
        escalated[order[:k]] = True
        total = np.where(escalated, o.t_cloud, 0.0) + np.where(
            ~escalated | edge_first, o.edge_time(name), 0.0
        )
        rows.append(LatencyRow(name, share, *np.percentile(total, [50, 95]).tolist()))
    return rows


def summarize(
    run: Run,
    *,
    prefix: str | None = None,
    extra: Mapping[str, ExtraRouter] | None = None,
    resamples: int = 1000,
    seed: int = 0,
) -> Report:
    o = outcomes(run, prefix, extra)
    n = len(o.ids)
    rows, curves, latency = [], {}, []
    for name in [*o.confidence, *o.extra, RANDOM, ORACLE]:
        fn = _curve_fn(o, name)
        curves[name] = fn(np.arange(n))
        rows.append(RouterRow(name, *_intervals(fn, n, resamples, seed)))
        if name in o.confidence or name in o.extra:
            latency += _latency(o, name)
    cloud_only = np.percentile(o.t_cloud, [50, 95]).tolist()
    latency.append(LatencyRow("cloud only", 1.0, *cloud_only))
    return Report(run.name + (f" [{prefix}]" if prefix else ""), o, rows, curves, latency)


def _pct(x: Interval) -> str:
    if math.isnan(x.value):
        return "n/a"
    return f"{100 * x.value:.1f}% [{100 * x.low:.1f}, {100 * x.high:.1f}]"


def markdown(
    report: Report, config: dict[str, object] | None = None, *, list_ids: bool = True
) -> str:
    o = report.outcomes
    lines = [
        f"## {report.name}",
        "",
        f"{len(o.ids)} items; edge quality {o.q_edge.mean():.3f}, cloud quality "
        f"{o.q_cloud.mean():.3f}"
        + (f"; {len(o.skipped)} without a grade, left out" if o.skipped else "")
        + ".",
        "",
        "| router | CPT(50%) | CPT(80%) | APGR | AUC |",
        "|---|---|---|---|---|",
    ]
    for r in report.routers:
        apgr = "n/a" if math.isnan(r.apgr.value) else str(r.apgr)
        lines.append(f"| {r.name} | {_pct(r.cpt50)} | {_pct(r.cpt80)} | {apgr} | {r.auc} |")
    lines += [
        "",
        "Latency (s), end to end, by share of cloud calls:",
        "",
        "| router | cloud share | p50 | p95 |",
        "|---|---|---|---|",
    ]
    for row in report.latency:
        lines.append(f"| {row.router} | {row.share:.2f} | {row.p50:.2f} | {row.p95:.2f} |")
    if o.t_greedy is not None:
        edge_line = (
            f"edge greedy answer p50 {np.percentile(o.t_greedy, 50):.2f} s, p95 "
            f"{np.percentile(o.t_greedy, 95):.2f} s; with the samples p50 "
            f"{np.percentile(o.t_edge, 50):.2f} s, p95 {np.percentile(o.t_edge, 95):.2f} s"
        )
        charged = (
            "Each router is charged only the edge work it needs: the greedy answer, plus the "
            f"samples for {', '.join(sorted(o.sampled | o.extra_sampled)) or 'none'}."
        )
    else:
        edge_line = (
            f"edge p50 {np.percentile(o.t_edge, 50):.2f} s, p95 {np.percentile(o.t_edge, 95):.2f} s"
        )
        charged = (
            "This run stored one time per edge assessment (greedy answer and samples in one "
            "batch): every router is charged all of it."
        )
    lines += [
        "",
        f"Per route: {edge_line}; cloud p50 {np.percentile(o.t_cloud, 50):.2f} s, "
        f"p95 {np.percentile(o.t_cloud, 95):.2f} s. {charged}",
        "",
        f"Compute: edge {o.t_edge.sum() / 60:.1f} min, cloud {o.t_cloud.sum() / 60:.1f} min "
        "(sums of the stored per-item times)."
        + (
            f" {o.reused} of the cloud answers (and their times) were reused from run "
            f"{', '.join(o.reused_from)}, made with the same cloud model and settings."
            if o.reused
            else ""
        ),
        "",
    ]
    if list_ids:
        lines += [
            "<details><summary>Item ids</summary>",
            "",
            ", ".join(o.ids),
            "",
            "</details>",
            "",
        ]
    return "\n".join(lines)


def plot(report: Report, out_dir: Path) -> list[Path]:
    """quality vs cloud share and latency vs cloud share, as PNGs in `out_dir`."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ConfigurationError(
            "plots", "matplotlib is needed for the plots: pip install 'confidence-router[eval]'"
        ) from exc
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = report.name.replace("/", "_").replace(" ", "_").replace("[", "").replace("]", "")
    names = [n for n in report.curves if n not in (RANDOM, ORACLE)]
    palette = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    colors = {name: palette(i % palette.N) for i, name in enumerate(names)}
    colors.update({RANDOM: "gray", ORACLE: "black"})
    size = (6.0, 4.5) if len(names) <= 6 else (9.0, 4.5)  # room for the legend beside the axes

    def finish(fig: Any, ax: Any, ylabel: str, path: Path) -> None:
        ax.set_xlabel("share of cloud calls")
        ax.set_ylabel(ylabel)
        ax.set_title(report.name, fontsize=9)
        if len(names) <= 6:
            ax.legend(fontsize=8)
        else:
            ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)

    fig, ax = plt.subplots(figsize=size)
    for name, curve in report.curves.items():
        style = "--" if name in (RANDOM, ORACLE) else "-"
        ax.plot(curve.share, curve.quality, style, color=colors[name], label=name, lw=1.2)
    quality = out_dir / f"{stem}_quality.png"
    finish(fig, ax, "quality", quality)
    fig, ax = plt.subplots(figsize=size)
    routers = sorted({row.router for row in report.latency if row.router != "cloud only"})
    for name in routers:
        rows = [r for r in report.latency if r.router == name]
        shares, p50 = [r.share for r in rows], [r.p50 for r in rows]
        ax.plot(shares, p50, "-o", color=colors.get(name), label=f"{name} p50", ms=3)
    cloud = next(r for r in report.latency if r.router == "cloud only")
    ax.axhline(cloud.p50, linestyle="--", color="gray", label="cloud only p50")
    latency = out_dir / f"{stem}_latency.png"
    finish(fig, ax, "end-to-end latency (s)", latency)
    return [quality, latency]


def write_report(
    run: Run,
    out_dir: Path,
    prefixes: Sequence[str | None] = (None,),
    *,
    plots: bool = True,
    extra: Mapping[str, ExtraRouter] | None = None,
) -> Path:
    """report.md (one section per prefix) and the plots in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sections = [f"# Evaluation: {run.name}", "", f"Config: `{run.config}`", ""]
    for prefix in prefixes:
        report = summarize(run, prefix=prefix, extra=extra)
        sections.append(markdown(report))
        if plots:
            for path in plot(report, out_dir):
                sections.append(f"![{path.stem}]({path.name})")
            sections.append("")
    target = out_dir / "report.md"
    target.write_text("\n".join(sections))
    return target

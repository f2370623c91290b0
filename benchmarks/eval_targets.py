"""The fast-edge evaluation's targets (issue 18), measured on a stored run, per source and pooled.

1. Latency of a kept answer: a white-box cascade keeps the edge's greedy answer, so its p50
   (over all items) against cloud-only p50; target <= 0.5. The p50 over the items the MSP
   cascade keeps at a 30% cloud share is printed beside it.
2. End to end at a 30% cloud share: each white-box cascade's p50 (the edge on every item, the
   cloud on the escalated ones) against cloud-only p50; target: below it.
3. Quality: CPT(50%) with its 95% bootstrap interval for every estimator; target (GSM8K): at
   least one interval lies entirely below 50% (random routing's CPT(50%)).

Prints `key=value` lines and writes the table into `report.md` (a `## Targets` section after the
config line, replaced on a rerun) of `--report` and into `targets.md` beside it. Run it after
`confidence-router report` (which rewrites report.md).
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from confidence_router.evaluation.report import Report, summarize
from confidence_router.evaluation.store import stored_run

REPO = Path(__file__).resolve().parents[1]
RUN = "fast-edge__qwen2.5-coder-0.5b__qwen2.5-coder-1.5b"
WHITE_BOX = ("max_sequence_probability", "mean_token_entropy")
SHARE = 0.3


def _p50(values: np.ndarray) -> float:
    return float(np.percentile(values, 50)) if len(values) else math.nan


def _kept_p50(report: Report, estimator: str) -> float:
    """p50 of the greedy answer's time over the items `estimator`'s cascade keeps at SHARE
    (the most confident 1 - SHARE; ties in a seeded order, as the report's latency rows)."""
    o = report.outcomes
    escalate = 1.0 - o.confidence[estimator]
    order = np.lexsort((np.random.default_rng(0).permutation(len(o.ids)), -escalate))
    kept = order[round(SHARE * len(o.ids)) :]
    return _p50(o.edge_time(estimator)[kept])


def measure(report: Report, key: str) -> tuple[list[str], list[str]]:
    """(`key=value` lines, markdown rows) for one source (`key`: its name in the lines)."""
    o = report.outcomes
    source = f"{key} ({len(o.ids)})"
    cloud = _p50(o.t_cloud)
    greedy = _p50(o.t_greedy if o.t_greedy is not None else o.t_edge)
    ratio = greedy / cloud
    lines = [f"items[{key}]={len(o.ids)}", f"edge_greedy_vs_cloud_p50[{key}]={ratio:.3f}"]
    msp_kept = _kept_p50(report, WHITE_BOX[0])
    rows = [
        f"| {source} | kept answer p50 <= 0.5x cloud-only p50 | greedy p50 {greedy:.2f} s vs "
        f"cloud {cloud:.2f} s = {ratio:.2f}x (MSP-kept at 30%: {msp_kept:.2f} s) | "
        f"{'met' if ratio <= 0.5 else 'missed'} |"
    ]
    at_share = {r.router: r.p50 for r in report.latency if math.isclose(r.share, SHARE)}
    for name in WHITE_BOX:
        if name not in at_share:
            continue
        e2e = at_share[name]
        lines.append(f"cascade_p50_at_30pct_vs_cloud[{key},{name}]={e2e / cloud:.3f}")
        rows.append(
            f"| {source} | {name} cascade p50 at 30% cloud < cloud-only | {e2e:.2f} s vs "
            f"{cloud:.2f} s | {'met' if e2e < cloud else 'missed'} |"
        )
    estimators = [r for r in report.routers if r.name in o.confidence]
    below = [r.name for r in estimators if r.cpt50.high < 0.5]
    cpts = "; ".join(
        f"{r.name} {100 * r.cpt50.value:.1f}% [{100 * r.cpt50.low:.1f}, {100 * r.cpt50.high:.1f}]"
        for r in estimators
    )
    lines.append(f"cpt50_interval_below_random[{key}]={','.join(below) or 'none'}")
    verdict = f"met: {', '.join(below)}" if below else "missed"
    rows.append(
        f"| {source} | an estimator's CPT(50%) interval entirely below 50% "
        f"({'the target' if key == 'gsm8k' else 'the target is for GSM8K'}) | "
        f"{cpts} | {verdict if key == 'gsm8k' else '(' + verdict + ')'} |"
    )
    return lines, rows


def write_section(report_md: Path, section: str) -> None:
    """Put `section` after the config line of report.md, replacing an earlier one."""
    text = report_md.read_text()
    text = re.sub(r"\n## Targets\n.*?(?=\n## )", "", text, flags=re.S)
    head, sep, rest = text.partition("\n## ")
    report_md.write_text(f"{head.rstrip()}\n\n{section}\n{sep}{rest}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=REPO / "benchmarks/results/eval/eval.sqlite")
    parser.add_argument("--run", default=RUN)
    parser.add_argument(
        "--report", type=Path, default=REPO / "benchmarks/results/eval/fast_edge/report.md"
    )
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    args = parser.parse_args(argv)
    rows: list[str] = []
    with stored_run(args.store, args.run) as run:
        for prefix, source in ((None, "all"), ("mmlu/", "mmlu"), ("gsm8k/", "gsm8k")):
            report = summarize(run, prefix=prefix, resamples=args.resamples)
            lines, more = measure(report, source)
            print("\n".join(lines))
            rows += more
    section = "\n".join(
        [
            "## Targets",
            "",
            "Issue 18's targets on this run (`python benchmarks/eval_targets.py`). Latency: a "
            "white-box cascade pays the edge's greedy answer; cloud-only pays the cloud call.",
            "",
            "| items | target | measured | |",
            "|---|---|---|---|",
            *rows,
            "",
        ]
    )
    if args.report.exists():
        write_section(args.report, section)
    args.report.with_name("targets.md").write_text(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

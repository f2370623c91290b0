"""Thresholds people can trust, replayed on a stored evaluation run (no model is called).

1. Budgets with ties: calibrate a 30% cloud share on n random items of a source with the
   tie-aware rule (`rule_for_share`: ties at the threshold broken by MSP, then a seeded draw),
   apply it to the other items, 1,000 splits; each estimator's p90 absolute share error against
   MSP's on the same splits (MSP has no ties: it sets the sampling limit). The old quantile
   threshold (`threshold_for_share`) is shown beside it.
2. A risk guarantee: `rule_for_risk` (Learn-then-Test, fixed sequence, exact binomial) at alpha
   in {0.65, 0.75}, delta 0.1, on half the items, tested on the other half, 1,000 splits: how
   often the kept answers' test error exceeds alpha (splits keeping < 20 test answers apart),
   the mean kept share; `threshold_for_quality` (target 1 - alpha) side by side.
3. `BudgetController` on a drifting stream of 2,000 requests drawn with replacement (MMLU then
   GSM8K; and a gradual mixture): the realized share of every window of 200 after 100 warm-up
   requests, against a threshold calibrated once on the first 100; a PNG of the windows.

The last lines are `key=value`: budget_p90_excess, risk_violation_rate, risk_kept_share,
controller_max_window_err, fixed_max_window_err.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from confidence_router.evaluation.report import Outcomes, outcomes
from confidence_router.evaluation.store import ResultStore
from confidence_router.routing import BudgetController, rule_for_risk, rule_for_share
from confidence_router.routing.calibration import threshold_for_share
from confidence_router.routing.decision_rule import escalates
from confidence_router.routing.quality_calibration import threshold_for_quality

STORE = Path(__file__).parent / "results" / "eval" / "eval.sqlite"
MSP, SE = "max_sequence_probability", "semantic_entropy"
TARGET = 0.3


def load(store: Path, run_name: str | None) -> Outcomes:
    with ResultStore(store) as results:
        runs = results.runs()
        name = run_name or sorted(runs)[0]
        return outcomes(results.run(name, runs[name]))


def share_errors(
    o: Outcomes, pick: np.ndarray, n: int, splits: int, seed: int
) -> dict[str, dict[str, np.ndarray]]:
    """Per estimator, the absolute error of the test share: tie-aware rule and old quantile."""
    rng = np.random.default_rng(seed)
    ids = np.flatnonzero(pick)
    out: dict[str, dict[str, list[float]]] = {
        name: {"rule": [], "quantile": []} for name in o.confidence
    }
    for _ in range(splits):
        order = rng.permutation(ids)
        cal, test = order[:n], order[n:]
        for name, conf in o.confidence.items():
            tie = MSP if name != MSP else None
            secondary = o.confidence[MSP] if tie else None
            rule = rule_for_share(
                conf[cal].tolist(),
                TARGET,
                secondary=None if secondary is None else secondary[cal].tolist(),
                tie_estimator=tie,
            )
            sent = [
                rule.escalates(
                    float(conf[i]),
                    {MSP: float(o.confidence[MSP][i])},
                    o.ids[i],
                )
                for i in test
            ]
            out[name]["rule"].append(abs(float(np.mean(sent)) - TARGET))
            t = threshold_for_share(conf[cal].tolist(), TARGET)
            old = [escalates(float(conf[i]), t) for i in test]
            out[name]["quantile"].append(abs(float(np.mean(old)) - TARGET))
    return {k: {m: np.array(v) for m, v in d.items()} for k, d in out.items()}


def budgets(o: Outcomes, splits: int) -> float:
    sources = {
        "pooled": np.ones(len(o.ids), dtype=bool),
        "mmlu": np.array([i.startswith("mmlu") for i in o.ids]),
        "gsm8k": np.array([i.startswith("gsm8k") for i in o.ids]),
    }
    sizes = {"pooled": round(0.25 * len(o.ids)), "mmlu": 100, "gsm8k": 20}
    worst_excess = -np.inf
    print("1. budget calibration, 30% share: p90 absolute share error on held-out items")
    print(f"{'source':<8} {'n':>4} {'estimator':<26} {'rule p90':>9} {'quantile p90':>13} "
          f"{'excess vs MSP':>14} {'distinct':>9}")  # fmt: skip
    for source, pick in sources.items():
        if pick.sum() <= sizes[source] + 5:
            continue
        errors = share_errors(o, pick, sizes[source], splits, seed=1)
        msp_p90 = float(np.percentile(errors[MSP]["rule"], 90))
        for name, err in errors.items():
            p90 = float(np.percentile(err["rule"], 90))
            excess = p90 - msp_p90
            worst_excess = max(worst_excess, excess)
            distinct = len(set(o.confidence[name][pick].tolist()))
            print(f"{source:<8} {sizes[source]:>4} {name:<26} {p90:>9.3f} "
                  f"{np.percentile(err['quantile'], 90):>13.3f} {excess:>+14.3f} "
                  f"{distinct:>5}/{int(pick.sum())}")  # fmt: skip
    return worst_excess


def risks(
    o: Outcomes, splits: int, names: Sequence[str], header: bool = True
) -> tuple[float, float]:
    errors_all = 1.0 - o.q_edge
    if header:
        print("\n2. risk guarantee (delta 0.1), half calibration / half test")
        print("viol. all: share of splits whose kept test answers' error exceeds alpha (the")
        print("event the guarantee bounds by delta); viol. >=20: the same among splits keeping")
        print(">= 20 test answers")
        print(f"{'estimator':<26} {'alpha':>5} {'certified':>9} {'viol. all':>9} "
              f"{'viol. >=20':>10} {'kept':>6} {'<20 kept':>9} {'isotonic viol.':>15} "
              f"{'isotonic kept':>14}")  # fmt: skip
    summary: list[tuple[float, float]] = []
    for name in names:
        conf = o.confidence[name]
        for alpha in (0.65, 0.75):
            rng = np.random.default_rng(2)
            viol, kept, few, iso_viol, iso_kept, iso_n = 0, [], 0, 0, [], 0
            counted, certified, any_viol = 0, 0, 0
            for split in range(splits):
                order = rng.permutation(len(o.ids))
                cal, test = order[: len(order) // 2], order[len(order) // 2 :]
                cert = rule_for_risk(
                    conf[cal].tolist(), errors_all[cal].tolist(), alpha, 0.1, seed=split
                )
                keep = (
                    conf[test] >= cert.rule.threshold
                    if cert.certified
                    else np.zeros(len(test), bool)
                )
                kept.append(float(keep.mean()))
                certified += cert.certified
                any_viol += bool(keep.any()) and float(errors_all[test][keep].mean()) > alpha
                if keep.sum() < 20:
                    few += 1
                else:
                    counted += 1
                    viol += float(errors_all[test][keep].mean()) > alpha
                iso = threshold_for_quality(
                    conf[cal].tolist(), (1 - errors_all[cal]).tolist(), 1 - alpha
                )
                iso_keep = conf[test] >= iso.threshold
                iso_kept.append(float(iso_keep.mean()))
                if iso_keep.sum() >= 20:
                    iso_n += 1
                    iso_viol += float(errors_all[test][iso_keep].mean()) > alpha
            rate = viol / counted if counted else float("nan")
            summary.append((any_viol / splits, float(np.mean(kept))))
            print(f"{name:<26} {alpha:>5.2f} {certified / splits:>9.3f} {any_viol / splits:>9.3f} "
                  f"{rate:>10.3f} {np.mean(kept):>6.3f} "
                  f"{few / splits:>9.3f} {iso_viol / max(1, iso_n):>15.3f} "
                  f"{np.mean(iso_kept):>14.3f}")  # fmt: skip
    rates = [r for r, _ in summary if not np.isnan(r)]
    worst = max(rates) if rates else float("nan")  # nan: no split kept 20 test answers
    return worst, float(np.mean([k for _, k in summary]))


def stream(o: Outcomes, kind: str, n: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    mmlu = [i for i, x in enumerate(o.ids) if x.startswith("mmlu")]
    gsm = [i for i, x in enumerate(o.ids) if x.startswith("gsm8k")]
    if kind == "switch":
        return [rng.choice(mmlu) for _ in range(n // 2)] + [
            rng.choice(gsm) for _ in range(n - n // 2)
        ]
    return [rng.choice(gsm) if rng.random() < i / n else rng.choice(mmlu) for i in range(n)]


def controller(o: Outcomes, plot: Path | None) -> tuple[float, float]:
    print("\n3. BudgetController, 30% target, windows of 200 after 100 warm-up requests")
    worst_c, worst_f = 0.0, 0.0
    curves: dict[str, tuple[list[float], list[float]]] = {}
    for name in (MSP, SE) if SE in o.confidence else (MSP,):
        conf = o.confidence[name]
        tie = MSP if name != MSP else None
        for kind in ("switch", "gradual"):
            picks = stream(o, kind, 2000, seed=3)
            ctl = BudgetController(TARGET, tie_estimator=tie)
            sent = [
                ctl.escalates(float(conf[i]), {MSP: float(o.confidence[MSP][i])}, f"{k}:{o.ids[i]}")
                for k, i in enumerate(picks)
            ]
            first = picks[:100]
            fixed = rule_for_share(
                conf[first].tolist(), TARGET,
                secondary=o.confidence[MSP][first].tolist() if tie else None, tie_estimator=tie,
            )  # fmt: skip
            fixed_sent = [
                fixed.escalates(
                    float(conf[i]), {MSP: float(o.confidence[MSP][i])}, f"{k}:{o.ids[i]}"
                )
                for k, i in enumerate(picks)
            ]
            windows = [float(np.mean(sent[s : s + 200])) for s in range(100, 1801)]
            fixed_w = [float(np.mean(fixed_sent[s : s + 200])) for s in range(100, 1801)]
            err_c = max(abs(w - TARGET) for w in windows)
            err_f = max(abs(w - TARGET) for w in fixed_w)
            worst_c, worst_f = max(worst_c, err_c), max(worst_f, err_f)
            curves[f"{name} {kind}"] = (windows, fixed_w)
            print(f"{name:<26} {kind:<8} controller max |err| {err_c:.3f}   fixed {err_f:.3f}")
    if plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(len(curves), 1, figsize=(8, 2.2 * len(curves)), sharex=True)
        for ax, (label, (windows, fixed_w)) in zip(
            np.atleast_1d(axes), curves.items(), strict=True
        ):
            x = range(100, 100 + len(windows))
            ax.plot(x, windows, label="BudgetController")
            ax.plot(x, fixed_w, label="fixed (first 100)", color="grey")
            ax.axhspan(TARGET - 0.05, TARGET + 0.05, color="green", alpha=0.1)
            ax.set_title(label, fontsize=9)
            ax.set_ylabel("share")
        np.atleast_1d(axes)[0].legend(fontsize=8)
        np.atleast_1d(axes)[-1].set_xlabel("window start (request)")
        fig.tight_layout()
        plot.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(plot, dpi=100)
        print(f"windows plotted in {plot}")
    return worst_c, worst_f


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", type=Path, default=STORE)
    parser.add_argument("--run", help="run name (default: the store's first)")
    parser.add_argument("--splits", type=int, default=1000)
    parser.add_argument(
        "--plot",
        type=Path,
        default=Path(__file__).parent / "results" / "guarantees" / "controller_windows.png",
    )
    args = parser.parse_args(argv)
    o = load(args.store, args.run)
    print(f"{args.store}: {len(o.ids)} items\n")
    excess = budgets(o, args.splits)
    names = [n for n in (MSP, SE) if n in o.confidence]
    violation, kept = risks(o, args.splits, names)
    ctl, fixed = controller(o, args.plot)
    print()
    print(f"budget_p90_excess={excess:.3f}")
    print(f"risk_violation_rate={violation:.3f}")
    print(f"risk_kept_share={kept:.3f}")
    print(f"controller_max_window_err={ctl:.3f}")
    print(f"fixed_max_window_err={fixed:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""(c) Staged escalation and early exit, replayed offline from (b)'s stored records."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import numpy as np

from confidence_router.metrics import auroc
from confidence_router.routing.calibration import band_for_share
from confidence_router.uncertainty import exit_point
from confidence_router.uncertainty.running_confidence import RunningConfidence

from .common import MSP, SE, interval, print_table, usable


def staged_scores(
    cheap: np.ndarray, full: np.ndarray, band: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """The staged router's ranking: answers kept by the cheap stage above every full-stage one,
    answers escalated by it below (each group ordered by its own score); and the in-band mask."""
    low, high = band
    in_band = (cheap >= low) & (cheap < high)
    score = np.where(cheap >= high, 2.0 + cheap, np.where(cheap < low, -2.0 + cheap, full))
    return score, in_band


def staged_table(
    dataset: str, records: list[dict[str, Any]], rho_b: float, args: argparse.Namespace
) -> None:
    records = usable(records, [MSP, SE])
    y = np.array([r["correct"] for r in records], dtype=float)
    cheap = np.array([r["scores"][MSP] for r in records])
    full = np.array([r["scores"][SE] for r in records])
    t_g = np.array([r["t_greedy"] for r in records])
    t_s = np.array([r["t_samples"] for r in records])
    always = float((t_g * rho_b).sum())
    cloud_share = 1.0 - float(y.mean())
    print(
        f"\n(c) {dataset}: staged escalation, cheap = {MSP}, full = {SE} (n={len(records)}; "
        f"band centred on the cheap cut for cloud share {cloud_share:.2f} = 1 - accuracy; "
        f"cost relative to always-SE, batched/greedy = {rho_b:.2f})"
    )
    rows = [
        ["always SE", "-", "1.00", "1.00", str(interval(auroc, full, y, args))],
        [
            "cheap only",
            "-",
            "0.00",
            f"{t_g.sum() / always:.2f}",
            str(interval(auroc, cheap, y, args)),
        ],
    ]
    reference = auroc(full, y)
    best: tuple[float, float, float] | None = None
    grid = sorted(set(args.se_shares) | {round(0.05 * k, 2) for k in range(21)})
    for share in grid:
        band = band_for_share(cheap.tolist(), share, cloud_share)
        score, in_band = staged_scores(cheap, full, band)
        cost = float((t_g + in_band * t_s).sum()) / always
        value = auroc(score, y)
        if best is None and value >= reference - args.auroc_tolerance:
            best = (share, float(in_band.mean()), cost)
        if share in args.se_shares:
            rows.append(
                [
                    f"staged {share:.2f}",
                    f"({band[0]:.3f}, {band[1]:.3f})",
                    f"{in_band.mean():.2f}",
                    f"{cost:.2f}",
                    str(interval(auroc, score, y, args)),
                ]
            )
    print_table(["router", "band", "SE share", "cost", "AUROC [95% CI]"], rows)
    if best is not None:
        print(
            f"equal AUROC (within {args.auroc_tolerance}): SE share {best[1]:.2f} "
            f"(target {best[0]:.2f}), cost {best[2]:.2f} of always-SE"
        )
    early_exit_table(dataset, records, rho_b, args, best[0] if best else None)


def early_exit_table(
    dataset: str,
    records: list[dict[str, Any]],
    rho_b: float,
    args: argparse.Namespace,
    staged_share: float | None,
) -> None:
    y = np.array([r["correct"] for r in records], dtype=float)
    cheap = np.array([r["scores"][MSP] for r in records])
    full = np.array([r["scores"][SE] for r in records])
    t_g = np.array([r["t_greedy"] for r in records])
    t_s = np.array([r["t_samples"] for r in records])
    length = np.array([max(r["greedy_tokens"], 1) for r in records], dtype=float)
    samples = np.array([r["sample_tokens"] for r in records], dtype=float)
    always = float((t_g * rho_b).sum())
    total_tokens = float((length + samples).sum())
    band = (
        band_for_share(cheap.tolist(), staged_share, 1.0 - float(y.mean()))
        if staged_share is not None
        else None
    )
    print(
        f"\n(c) {dataset}: early exit (min_tokens={args.min_tokens}, window={args.window}); "
        f"exited answers escalate at once"
        + (f"; staged at SE share {staged_share:.2f}" if band is not None else "")
    )
    rows = []
    for floor in args.floors:
        exits = [
            exit_point(r["greedy_logprobs"], floor, min_tokens=args.min_tokens, window=args.window)
            for r in records
        ]
        exited = np.array([e is not None for e in exits])
        k = np.array([e if e is not None else 0 for e in exits], dtype=float)
        running = np.array(
            [
                running_value(r["greedy_logprobs"][: int(e)], args.window) if e is not None else 0.0
                for r, e in zip(records, exits, strict=True)
            ]
        )
        frac = np.where(exited, k / length, 1.0)
        greedy_saved = float(((length - k) * exited).sum()) / float(length.sum())
        sample_saved = (np.maximum(samples - args.samples * k, 0) * exited).sum()
        edge_saved = float(((length - k) * exited).sum() + sample_saved) / total_tokens
        wrong_exits = float((exited & (y > 0.5)).sum() / max(exited.sum(), 1))
        score = np.where(exited, -3.0 + running, full)
        cost = float((t_g * rho_b * frac).sum()) / always
        rows.append(
            [
                f"always SE, floor {floor}",
                f"{exited.mean():.2f}",
                f"{wrong_exits:.2f}",
                f"{greedy_saved:.2f}",
                f"{edge_saved:.2f}",
                f"{cost:.2f}",
                str(interval(auroc, score, y, args)),
            ]
        )
        if band is not None:
            staged, in_band = staged_scores(cheap, full, band)
            score = np.where(exited, -3.0 + running, staged)
            cost = float((t_g * frac + (in_band & ~exited) * t_s).sum()) / always
            rows.append(
                [
                    f"staged, floor {floor}",
                    f"{exited.mean():.2f}",
                    f"{wrong_exits:.2f}",
                    f"{greedy_saved:.2f}",
                    "-",
                    f"{cost:.2f}",
                    str(interval(auroc, score, y, args)),
                ]
            )
    print_table(
        [
            "router",
            "exit share",
            "exits correct",
            "greedy tok saved",
            "edge tok saved",
            "cost",
            "AUROC [95% CI]",
        ],
        rows,
    )


def running_value(logprobs: Sequence[float], window: int | None) -> float:
    running = RunningConfidence(window=window)
    for lp in logprobs:
        running.push(lp)
    return running.value

"""The `confidence-router` command: `demo`, `calibrate`, `eval`, `report`, `train`, `train-probe`
and `serve`."""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from confidence_router.errors import ConfidenceRouterError, InvalidInputError
from confidence_router.prompt_files import jsonl_rows, prompt_of, text_lines


def load_prompts(path: Path) -> list[Any]:
    """Prompts from a text file (one a line) or JSONL (`prompt`/`question` text or `messages`)."""
    if ".jsonl" not in path.name:
        return [line for _, line in text_lines(path)]
    return [prompt_of(row, where) for where, row in jsonl_rows(path)]


def _share(value: str) -> float:
    share = float(value)
    if not 0.0 <= share <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {value}")
    return share


def _parser() -> argparse.ArgumentParser:
    from confidence_router.evaluation.commands import add_edge_options

    parser = argparse.ArgumentParser(prog="confidence-router", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="route built-in easy and hard questions, print a table")
    demo.add_argument("--threshold", type=_share, help="fixed threshold (default: calibrated)")
    demo.add_argument("--target-cloud-share", type=_share, default=0.5)
    demo.add_argument("--cloud-base-url", help="OpenAI-compatible URL (default: local server)")
    demo.add_argument("--cloud-model", help="cloud model name (or bundled name / GGUF path)")
    add_edge_options(demo)
    demo.add_argument("--max-new-tokens", type=int, default=64)
    demo.add_argument("--rule", type=Path, help="a decision rule's JSON (calibrate --out)")
    cal = sub.add_parser(
        "calibrate", help="a decision rule for a cloud share, a quality target or a risk bound"
    )
    cal.add_argument("--prompts", type=Path, required=True, help=".txt or .jsonl(.gz) prompts")
    goal = cal.add_mutually_exclusive_group(required=True)
    goal.add_argument("--target-cloud-share", type=_share)
    goal.add_argument(
        "--target-quality",
        type=_share,
        help="P(a kept edge answer is acceptable); the .jsonl rows need 'acceptable' (0/1)",
    )
    goal.add_argument(
        "--target-risk",
        type=_share,
        metavar="ALPHA",
        help="certify error <= ALPHA among kept answers w.p. >= 1 - --delta (rows need "
        "'acceptable')",
    )
    cal.add_argument("--delta", type=_share, default=0.1, help="with --target-risk")
    cal.add_argument("--out", type=Path, help="also write the decision rule's JSON here")
    from confidence_router.evaluation.commands import (
        add_commands,
        add_edge_options,
        add_estimator_options,
    )

    add_edge_options(cal)
    add_estimator_options(cal, many=False)
    cal.add_argument("--max-new-tokens", type=int, default=128)
    add_commands(sub)
    from confidence_router.training.commands import add_commands as add_training

    add_training(sub)
    from confidence_router.serve.command import add_command as add_serve

    add_serve(sub)
    return parser


def _calibrate(args: argparse.Namespace) -> None:
    from confidence_router.evaluation.commands import estimators_from
    from confidence_router.models import load_edge
    from confidence_router.routing import CascadeRouter, calibrate_threshold
    from confidence_router.routing.no_cloud import NoCloud

    prompts = load_prompts(args.prompts)
    (estimator,) = estimators_from([args.estimator], args.equivalence)
    edge = load_edge(args.edge_model, args.edge_runtime)
    router = CascadeRouter(edge, NoCloud(), estimator=estimator)
    if args.target_quality is not None:
        _calibrate_quality(args, prompts, router)
        return
    if args.target_risk is not None:
        _calibrate_risk(args, prompts, router)
        return

    def progress(done: int, total: int) -> None:
        print(f"\rscored {done}/{total}", end="", file=sys.stderr, flush=True)

    result = calibrate_threshold(
        router,
        prompts,
        args.target_cloud_share,
        max_new_tokens=args.max_new_tokens,
        progress=progress,
    )
    print(file=sys.stderr)
    summary = result.model_dump(exclude={"confidences"})
    summary.update(n=result.n, estimator=router.estimator.name, edge_model=edge.model_name)
    print(json.dumps(summary, indent=2))
    _write_rule(args.out, result.rule)


def _write_rule(path: Path | None, rule: Any) -> None:
    if path is not None and rule is not None:
        path.write_text(rule.model_dump_json(indent=2) + "\n")
        print(f"decision rule written to {path}", file=sys.stderr)


def _calibrate_risk(args: argparse.Namespace, prompts: list[Any], router: Any) -> None:
    from confidence_router.routing.risk import calibrate_risk

    labels = load_labels(args.prompts)
    result = calibrate_risk(
        router,
        list(zip(prompts, labels, strict=True)),
        args.target_risk,
        args.delta,
        max_new_tokens=args.max_new_tokens,
    )
    summary = result.model_dump()
    summary.update(n=len(prompts), estimator=router.estimator.name)
    print(json.dumps(summary, indent=2))
    _write_rule(args.out, result.rule)


def load_rule(path: Path) -> Any:
    """A decision rule from its JSON (`calibrate --out`)."""
    from confidence_router.routing.decision_rule import DecisionRule

    try:
        return DecisionRule.model_validate_json(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{path}: not a decision rule's JSON ({exc})") from exc


def _calibrate_quality(args: argparse.Namespace, prompts: list[Any], router: Any) -> None:
    from confidence_router.routing.quality_calibration import threshold_for_quality

    labels = load_labels(args.prompts)
    confidences = []
    for i, prompt in enumerate(prompts):
        confidences.append(router.assess(prompt, max_new_tokens=args.max_new_tokens).confidence)
        print(f"\rscored {i + 1}/{len(prompts)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    result = threshold_for_quality(confidences, labels, args.target_quality)
    summary = result.model_dump(exclude={"points"})
    summary.update(n=len(prompts), estimator=router.estimator.name)
    print(json.dumps(summary, indent=2))


def load_labels(path: Path) -> list[float]:
    """The `acceptable` field (0/1 or true/false) of every row of a JSONL prompt file."""
    if ".jsonl" not in path.name:
        raise InvalidInputError(f"{path}: --target-quality needs a .jsonl file with 'acceptable'")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
        rows = [json.loads(line) for line in fh if line.strip()]
    if any("acceptable" not in row for row in rows):
        raise InvalidInputError(f"{path}: every row needs 'acceptable' (0/1)")
    return [float(row["acceptable"]) for row in rows]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from confidence_router.demo import run_demo

            run_demo(
                threshold=args.threshold,
                target_cloud_share=args.target_cloud_share,
                cloud_base_url=args.cloud_base_url,
                cloud_model=args.cloud_model,
                edge_model=args.edge_model,
                edge_runtime=args.edge_runtime,
                max_new_tokens=args.max_new_tokens,
                rule=load_rule(args.rule) if args.rule else None,
            )
        elif args.command == "serve":
            from confidence_router.serve.command import run_serve

            run_serve(args)
        elif args.command == "eval":
            from confidence_router.evaluation.commands import run_eval

            run_eval(args)
        elif args.command == "train":
            from confidence_router.training.commands import run_train

            run_train(args)
        elif args.command == "train-probe":
            from confidence_router.training.commands import run_train_probe

            run_train_probe(args)
        elif args.command == "report":
            from confidence_router.evaluation.commands import run_report

            run_report(args)
        else:
            _calibrate(args)
    except ConfidenceRouterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

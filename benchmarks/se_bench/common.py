"""What every part of the semantic-entropy benchmark shares: names, timing, intervals, tables."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from confidence_router.metrics import Interval, bootstrap

SE = "semantic_entropy"
MSP = "max_sequence_probability"
COST_PROMPTS = [
    "What is the capital of France?",
    "Explain photosynthesis briefly.",
    "Write a limerick about a cat.",
    "What are the three states of matter?",
]


def timed(fn: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def usable(records: Iterable[dict[str, Any]], names: Sequence[str]) -> list[dict[str, Any]]:
    """Records where every named score exists (a failed estimator leaves None)."""
    return [r for r in records if all(r["scores"].get(k) is not None for k in names)]


def interval(metric: Callable[..., float], c: Any, y: Any, args: argparse.Namespace) -> Interval:
    return bootstrap(metric, c, y, resamples=args.resamples, seed=args.seed)


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(line.format(*header))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))


def load_edge(model: str, args: argparse.Namespace) -> Any:
    """The in-process transformers edge in `--dtype` on `--device`."""
    from confidence_router.models.transformers import TransformersModel

    start = time.perf_counter()
    edge = TransformersModel(model, dtype=args.dtype, device=args.device, num_threads=args.threads)
    print(
        f"loaded {edge.model_name} ({args.dtype}, {args.device}) in "
        f"{time.perf_counter() - start:.0f}s",
        file=sys.stderr,
    )
    return edge

"""(a) What semantic entropy's samples cost: batched, samples-only and sequential sampling and
the clustering, timed at a fixed length; kept as small JSON files (`cost_<model>...json`)."""

from __future__ import annotations

import json
import math
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from confidence_router.errors import ConfidenceRouterError
from confidence_router.generation import GenerationOptions
from confidence_router.messages import ChatMessage, normalize_messages
from confidence_router.uncertainty import RequestStatistics, SemanticEntropy

from .common import print_table, timed


def sequential(edge: Any, msgs: list[ChatMessage], tokens: int, n: int, seed: int) -> None:
    """The greedy answer, then n one-sample calls (each prefills the prompt again)."""
    edge.generate(msgs, GenerationOptions(max_new_tokens=tokens, logprobs=True, entropy=True))
    for k in range(n):
        one = GenerationOptions(
            max_new_tokens=tokens, num_samples=1, samples_only=True, logprobs=True, seed=seed + k
        )
        edge.generate(msgs, one)


def cost_row(
    edge: Any, se: SemanticEntropy, prompt: str, tokens: int, n: int, seed: int, full: bool
) -> dict[str, float]:
    """Seconds of each call for one prompt (every row decodes exactly `tokens` tokens)."""
    msgs = normalize_messages(prompt)
    greedy = GenerationOptions(max_new_tokens=tokens, logprobs=True, entropy=True)
    batched = greedy.model_copy(update={"num_samples": n, "seed": seed})
    samples_only = GenerationOptions(
        max_new_tokens=tokens, num_samples=n, samples_only=True, logprobs=True, seed=seed
    )
    row: dict[str, float] = {}
    row["greedy"], _ = timed(edge.generate, msgs, greedy)
    row["batched"], gen = timed(edge.generate, msgs, batched)
    row["samples_only"], _ = timed(edge.generate, msgs, samples_only)
    if full:
        row["sequential"], _ = timed(sequential, edge, msgs, tokens, n, seed)
        try:
            row["entailment"], _ = timed(se.confidence, RequestStatistics(msgs, gen))
        except ConfidenceRouterError as exc:  # e.g. no embedder installed
            print(f"entailment not timed: {exc}", file=sys.stderr)
            row["entailment"] = math.nan
    return row


def measure_cost(
    edge: Any, prompts: Sequence[str], tokens: int, rounds: int, n: int, *, full: bool
) -> dict[str, Any]:
    """Mean wall seconds per request of each way to get the greedy answer and n samples, every
    row decoding exactly `tokens` tokens (EOS off). Round 0 warms up and is not counted. `full`
    adds sequential sampling and entailment (the default SE equivalence on the samples)."""
    saved_end_ids = edge._end_ids
    edge._end_ids = [-1]
    se = SemanticEntropy(num_samples=n)
    times: dict[str, list[float]] = {}
    try:
        for round_no in range(rounds + 1):
            for i, prompt in enumerate(prompts):
                row = cost_row(edge, se, prompt, tokens, n, 1000 * round_no + i, full)
                print(
                    f"  cost round {round_no} prompt {i}: "
                    + " ".join(f"{k}={v:.2f}s" for k, v in row.items()),
                    file=sys.stderr,
                )
                if round_no:
                    for key, value in row.items():
                        times.setdefault(key, []).append(value)
    finally:
        edge._end_ids = saved_end_ids
    return {
        "model": edge.model_name,
        "tokens": tokens,
        "rounds": rounds,
        "prompts": len(prompts),
        "samples": n,
        **{f"{k}_s": statistics.fmean(v) for k, v in times.items()},
    }


def cost_file(results: Path, model: str, dtype: str, tokens: int, n: int) -> Path:
    return results / f"cost_{Path(model).name.removesuffix('.gguf')}_{dtype}_t{tokens}_n{n}.json"


def cached_cost(path: Path, redo: bool, measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    if path.exists() and not redo:
        return dict(json.loads(path.read_text()))
    result = measure()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    return result


def cost_table(cost: dict[str, Any]) -> None:
    g = cost["greedy_s"]
    n = cost["samples"]
    rows = [
        ("greedy (1 row)", cost["greedy_s"]),
        (f"batched greedy + {n} samples (1 call)", cost["batched_s"]),
        (f"samples only ({n} rows, staged 2nd call)", cost["samples_only_s"]),
        (f"sequential greedy + {n} x 1 sample", cost.get("sequential_s", math.nan)),
        (f"entailment (clustering {n} samples)", cost.get("entailment_s", math.nan)),
    ]
    print(
        f"\n(a) cost on {cost['model']}: {cost['tokens']} tokens per row, "
        f"{cost['prompts']} prompts x {cost['rounds']} rounds, mean s per request"
    )
    print_table(["call", "s", "x greedy"], [[name, f"{s:.3f}", f"{s / g:.2f}"] for name, s in rows])
    print(f"se_cost_ratio={cost['batched_s'] / g:.3f}")
    print(f"batched_vs_sequential={cost['batched_s'] / cost.get('sequential_s', math.nan):.3f}")
    print(f"entailment_s={cost.get('entailment_s', math.nan):.4f}")

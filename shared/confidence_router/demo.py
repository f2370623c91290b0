"""The demo: calibrate on built-in prompts, route easy and hard questions, print a table."""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TextIO

from confidence_router.models.bundled import DEFAULT_CLOUD, DEFAULT_EDGE
from confidence_router.models.default_edge import Runtime
from confidence_router.models.openai import OpenAIChatModel
from confidence_router.routing import CascadeRouter, Pricing, RoutedResponse, calibrate_threshold
from confidence_router.routing.decision_rule import DecisionRule

# Calibration prompts (never the demo questions): a spread of easy and hard requests.
CALIBRATION_PROMPTS: tuple[str, ...] = (
    "What color is the sky on a clear day?",
    "Say hello in French.",
    "What is 10 + 5?",
    "Name the largest planet in the solar system.",
    "Translate 'thank you' into Spanish.",
    "What is the boiling point of water in Celsius?",
    "Explain the difference between a mutex and a semaphore in two sentences.",
    "What is the derivative of x^3 * ln(x)?",
    "Who proved Fermat's Last Theorem, and in which year was the proof completed?",
    "Write a haiku about entropy.",
    "A train leaves at 3:40 pm and arrives at 6:15 pm. How long is the trip in minutes?",
    "What does the Rust borrow checker prevent?",
)


@dataclass(frozen=True)
class DemoQuestion:
    """A built-in question and its reference answer: `accept` holds regular expressions, one
    of which a right answer contains (case-insensitive, as a whole word)."""

    text: str
    reference: str
    accept: tuple[str, ...]

    def is_right(self, answer: str) -> bool:
        return any(re.search(rf"(?<!\w){p}(?!\w)", answer, re.IGNORECASE) for p in self.accept)


DEMO_QUESTIONS: tuple[DemoQuestion, ...] = (
    DemoQuestion("What is the capital of France?", "Paris", ("paris",)),
    DemoQuestion("How many legs does a spider have?", "8", ("8", "eight")),
    DemoQuestion("What is 2 + 2?", "4", ("4", "four")),
    DemoQuestion("What is the chemical symbol for gold?", "Au", ("au",)),
    DemoQuestion(
        "If a shirt costs $20 after a 20% discount, what was the original price?",
        "$25",
        (r"\$?25(\.00)?",),
    ),
    DemoQuestion("What does print(len('hello')) print in Python?", "5", ("5", "five")),
    DemoQuestion(
        "In which year did the Treaty of Westphalia end the Thirty Years' War?", "1648", ("1648",)
    ),
    DemoQuestion(
        "What is the time complexity of building a binary heap from n elements, and why?",
        "O(n)",
        (r"o\(n\)", r"linear"),
    ),
)

# Illustrative prices (per million tokens) so the table shows a cost; the edge is free.
DEMO_PRICES = {
    "edge": Pricing(),
    "cloud": Pricing(input_per_million=0.15, output_per_million=0.60),
}


def _excerpt(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _mark(right: bool | None) -> str:
    return "-" if right is None else ("yes" if right else "NO")


def edge_was_right(question: DemoQuestion, result: RoutedResponse) -> bool | None:
    """Whether the edge's own answer was right (None: the edge gave none)."""
    edge_text = result.text if result.route == "edge" else result.edge_text
    return None if edge_text is None else question.is_right(edge_text)


def format_table(questions: Sequence[DemoQuestion], results: list[RoutedResponse]) -> str:
    """A plain-text table: question, reference, route, reason, confidence, whether the edge's
    answer and the routed answer were right, latency, answer excerpt; then the totals."""
    header = (
        f"{'question':<40} {'ref':<5} {'route':<5} {'reason':<15} {'conf':>5} "
        f"{'edge':>4} {'final':>5} {'sec':>5}  answer"
    )
    lines = [header, "-" * len(header)]
    for question, result in zip(questions, results, strict=True):
        conf = "-" if result.confidence is None else f"{result.confidence:.3f}"
        lines.append(
            f"{_excerpt(question.text, 40):<40} {_excerpt(question.reference, 5):<5} "
            f"{result.route:<5} {result.reason.value:<15} {conf:>5} "
            f"{_mark(edge_was_right(question, result)):>4} "
            f"{_mark(question.is_right(result.text)):>5} "
            f"{result.latency.total_s:>5.1f}  {_excerpt(result.text, 50)}"
        )
    edge_right = sum(bool(edge_was_right(q, r)) for q, r in zip(questions, results, strict=True))
    routed_right = sum(q.is_right(r.text) for q, r in zip(questions, results, strict=True))
    lines.append(
        f"right answers: edge alone {edge_right}/{len(results)}, routed {routed_right}/"
        f"{len(results)} with {sum(r.escalated for r in results)} escalated"
    )
    return "\n".join(lines)


@contextlib.contextmanager
def _cloud(base_url: str | None, model: str | None, out: TextIO) -> Iterator[OpenAIChatModel]:
    if base_url:
        key = os.environ.get("CONFIDENCE_ROUTER_CLOUD_API_KEY") or os.environ.get("OPENAI_API_KEY")
        yield OpenAIChatModel(model or "gpt-4o-mini", base_url=base_url, api_key=key)
        return
    from confidence_router.server import LlamaCppServer

    print(f"starting the local cloud server ({model or DEFAULT_CLOUD}) on 127.0.0.1 ...", file=out)
    with LlamaCppServer(model or DEFAULT_CLOUD) as server:
        print(f"cloud server ready at {server.base_url}", file=out)
        yield OpenAIChatModel(server.model_alias, base_url=server.base_url, timeout=300)


def run_demo(
    *,
    threshold: float | None = None,
    target_cloud_share: float = 0.5,
    cloud_base_url: str | None = None,
    cloud_model: str | None = None,
    edge_model: str | None = None,
    edge_runtime: Runtime = "auto",
    max_new_tokens: int = 64,
    rule: DecisionRule | None = None,
    out: TextIO | None = None,
) -> list[RoutedResponse]:
    """Run the demo end to end and print its table; returns the routed responses."""
    out = out or sys.stdout
    from confidence_router.models.default_edge import default_runtime, load_edge

    runtime: Runtime = default_runtime() if edge_runtime == "auto" else edge_runtime
    print(f"loading the edge model ({edge_model or DEFAULT_EDGE}, {runtime}) ...", file=out)
    edge = load_edge(edge_model, runtime)
    with _cloud(cloud_base_url, cloud_model, out) as cloud:
        router = CascadeRouter(edge, cloud, max_new_tokens=max_new_tokens, prices=DEMO_PRICES)
        if rule is not None:
            threshold = rule.threshold
        elif threshold is None:
            print(
                f"calibrating on {len(CALIBRATION_PROMPTS)} built-in prompts for a "
                f"{target_cloud_share:.0%} cloud share ...",
                file=out,
            )
            calibration = calibrate_threshold(router, CALIBRATION_PROMPTS, target_cloud_share)
            threshold, rule = calibration.threshold, calibration.rule
            print(
                f"calibrated threshold = {threshold:.4f} (escalates "
                f"{calibration.achieved_cloud_share:.0%} of the calibration prompts)",
                file=out,
            )
        router = router.with_threshold(rule if rule is not None else threshold)
        results = [router.route(q.text) for q in DEMO_QUESTIONS]
    print(format_table(DEMO_QUESTIONS, results), file=out)
    escalated = sum(r.escalated for r in results)
    cost = sum(r.cost for r in results)
    print(
        f"escalated {escalated}/{len(results)} ({escalated / len(results):.0%}) at threshold "
        f"{threshold:.4f} ({router.estimator.name}); estimated cost {cost:.6f}",
        file=out,
    )
    return results

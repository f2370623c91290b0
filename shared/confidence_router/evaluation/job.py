"""An evaluation run: per item the edge answer with every estimator's confidence, the cloud
answer, their latencies and grades, each stored as soon as it exists (`ResultStore`). An
edge-only run (`evaluate_edge`) stores the edge's answers, scores and grades without a cloud,
optionally with the greedy answer's hidden states (a probe's training and test data)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from confidence_router.errors import CapabilityError, ConfidenceRouterError, ConfigurationError
from confidence_router.evaluation.data import EvalItem, grade
from confidence_router.evaluation.hidden import encode_states
from confidence_router.evaluation.judge import Judge
from confidence_router.evaluation.runner import Results, Stage, run_stages
from confidence_router.evaluation.store import Run
from confidence_router.generation import GenerationOptions
from confidence_router.messages import normalize_messages
from confidence_router.models.base import ChatBackend
from confidence_router.routing.cascade import CascadeRouter
from confidence_router.routing.policy import RoutingPolicy

EDGE, CLOUD, GRADE = "edge", "cloud", "grade"


def edge_config(edge: ChatBackend, policy: RoutingPolicy, **extra: Any) -> dict[str, Any]:
    """What an edge-only run's results depend on (stored with the run; a rerun must match)."""
    return {
        "edge": edge.model_name,
        "estimators": sorted(e.name for e in policy.estimators),
        "samples": policy.num_samples,
        "temperature": policy.temperature,
        **extra,
    }


def run_config(router: CascadeRouter, **extra: Any) -> dict[str, Any]:
    """What a run's results depend on (stored with the run; a rerun must match it)."""
    return edge_config(router.edge, router.policy, cloud=router.cloud.model_name, **extra)


def edge_result(
    edge: ChatBackend, policy: RoutingPolicy, item: EvalItem, states: bool = False
) -> dict[str, Any]:
    """The edge's answer and every estimator's score, timed in two parts: the greedy answer
    alone (`greedy_s`: all a white-box cascade pays) and, when an estimator samples, the
    samples in a second call (`samples_s`: what a sampling estimator pays on top, as a staged
    router does). `latency_s` is their sum; `sampled` names the scores that need the samples.
    With `states`, the greedy call also returns its hidden states, stored under `hidden`."""
    probe = policy.changed(edge, band=None, early_exit_floor=None)
    messages = normalize_messages(item.prompt)
    started = time.perf_counter()
    try:
        options = probe.edge_options(item.max_new_tokens or None)
        update: dict[str, Any] = {"num_samples": 0}
        if states:
            update.update(hidden_states=True, hidden_layer=probe.hidden_layer)
        generation = edge.generate(messages, options.model_copy(update=update))
        greedy_s = time.perf_counter() - started
        samples_s = 0.0
        if probe.num_samples:
            started = time.perf_counter()
            sampled = edge.generate(messages, probe.sample_options(item.max_new_tokens or None))
            samples_s = time.perf_counter() - started
            generation = replace(
                generation, samples=sampled.samples, usage=generation.usage + sampled.usage
            )
    except ConfidenceRouterError as exc:  # e.g. a prompt the edge cannot take: recorded
        return {"error": f"{type(exc).__name__}: {exc}", "latency_s": 0.0}
    scores = probe.score(messages, generation, [])[1]
    out = {
        "text": generation.greedy.text,
        "scores": scores,
        "sampled": sorted(probe.key(e) for e in probe.estimators if e.needs_samples),
        "latency_s": greedy_s + samples_s,
        "greedy_s": greedy_s,
        "samples_s": samples_s,
        "tokens": generation.greedy.num_tokens,
        "finish_reason": generation.greedy.finish_reason,
    }
    if states:
        if generation.greedy.hidden is None:
            raise CapabilityError(f"the edge {edge.model_name!r} returned no hidden states")
        out["hidden"] = encode_states(generation.greedy.hidden)
    return out


def _cloud(router: CascadeRouter, item: EvalItem, reuse: Run | None = None) -> dict[str, Any]:
    """The cloud's answer, or the one `reuse` (a run with the same cloud settings) stored for the
    same item, marked with `reused_from`."""
    stored = reuse.get(item.id, CLOUD) if reuse is not None else None
    if stored is not None and "text" in stored:
        return {**stored, "reused_from": reuse.name if reuse is not None else ""}
    options = GenerationOptions(max_new_tokens=item.max_new_tokens or router.cloud_max_new_tokens)
    started = time.perf_counter()
    generation = router.cloud.generate(normalize_messages(item.prompt), options)
    return {
        "text": generation.text,
        "latency_s": time.perf_counter() - started,
        "tokens": generation.usage.output_tokens,
        "finish_reason": generation.greedy.finish_reason,
    }


def _grade(item: EvalItem, results: Results, judge: Judge | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tier in (EDGE, CLOUD):
        if tier not in results:  # an edge-only run
            continue
        text = results[tier].get("text")
        if text is None:
            out[tier] = 0.0  # no answer: the worst grade
            continue
        automatic = grade(item, text)
        if automatic.correct is not None:
            out[tier] = float(automatic.correct)
            out[f"{tier}_predicted"] = automatic.predicted
        elif judge is not None:
            verdict = judge.rate(item, text)
            out[tier] = verdict.score  # None when the verdict did not parse: never guessed
            out[f"{tier}_judge_raw"] = verdict.raw
            out[f"{tier}_judge_parsed"] = verdict.parsed
        else:
            out[tier] = None
    return out


def evaluate(
    run: Run,
    items: Sequence[EvalItem],
    router: CascadeRouter,
    *,
    judge: Judge | None = None,
    progress: bool = True,
    reuse_cloud: Run | None = None,
) -> dict[str, Results]:
    """Every item's edge assessment (all the router's estimators), cloud answer and grades
    (GSM8K/MMLU graded automatically, anything else by `judge`), resumable in `run`. With
    `reuse_cloud`, a run made with the same cloud settings, its stored cloud answers are taken
    instead of asking the cloud again (marked `reused_from`)."""
    stages: list[Stage[EvalItem]] = [
        Stage(EDGE, lambda item, _: edge_result(router.edge, router.policy, item)),
        Stage(CLOUD, lambda item, _: _cloud(router, item, reuse_cloud)),
        Stage(GRADE, lambda item, results: _grade(item, results, judge)),
    ]
    return run_stages(run, items, stages, progress=progress)


def check_gradable(items: Sequence[EvalItem]) -> None:
    """`ConfigurationError` unless every item is graded automatically (GSM8K, MMLU): an
    edge-only run has no judge."""
    for item in items:
        if item.dataset not in ("gsm8k", "mmlu"):
            raise ConfigurationError(
                "data", f"an edge-only run grades automatically: {item.id} has no reference"
            )


def evaluate_edge(
    run: Run,
    items: Sequence[EvalItem],
    edge: ChatBackend,
    policy: RoutingPolicy,
    *,
    states: bool = False,
    progress: bool = True,
) -> dict[str, Results]:
    """Every item's edge answer, scores (`policy`'s estimators) and automatic grade, resumable
    in `run`, with no cloud; with `states`, the greedy answer's hidden states too (float16)."""
    check_gradable(items)
    stages: list[Stage[EvalItem]] = [
        Stage(EDGE, lambda item, _: edge_result(edge, policy, item, states)),
        Stage(GRADE, lambda item, results: _grade(item, results, None)),
    ]
    return run_stages(run, items, stages, progress=progress)

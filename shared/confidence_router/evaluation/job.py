"""An evaluation run: per item the edge answer with every estimator's confidence, the cloud
answer, their latencies and grades, each stored as soon as it exists (`ResultStore`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from confidence_router.errors import ConfidenceRouterError
from confidence_router.evaluation.data import EvalItem, grade
from confidence_router.evaluation.judge import Judge
from confidence_router.evaluation.runner import Results, Stage, run_stages
from confidence_router.evaluation.store import Run
from confidence_router.generation import GenerationOptions
from confidence_router.messages import normalize_messages
from confidence_router.routing.cascade import CascadeRouter

EDGE, CLOUD, GRADE = "edge", "cloud", "grade"


def run_config(router: CascadeRouter, **extra: Any) -> dict[str, Any]:
    """What a run's results depend on (stored with the run; a rerun must match it)."""
    return {
        "edge": router.edge.model_name,
        "cloud": router.cloud.model_name,
        "estimators": sorted(e.name for e in router.estimators),
        "samples": router.num_samples,
        "temperature": router.temperature,
        **extra,
    }


def _edge(router: CascadeRouter, item: EvalItem) -> dict[str, Any]:
    """The edge's answer and every estimator's score, timed in two parts: the greedy answer
    alone (`greedy_s`: all a white-box cascade pays) and, when an estimator samples, the
    samples in a second call (`samples_s`: what a sampling estimator pays on top, as a staged
    router does). `latency_s` is their sum; `sampled` names the scores that need the samples."""
    probe = router.with_band(None).with_early_exit(None)
    messages = normalize_messages(item.prompt)
    started = time.perf_counter()
    try:
        options = probe.edge_options(item.max_new_tokens or None)
        generation = probe.edge.generate(messages, options.model_copy(update={"num_samples": 0}))
        greedy_s = time.perf_counter() - started
        samples_s = 0.0
        if probe.num_samples:
            started = time.perf_counter()
            sampled = probe.edge.generate(
                messages, probe.sample_options(item.max_new_tokens or None)
            )
            samples_s = time.perf_counter() - started
            generation = replace(
                generation, samples=sampled.samples, usage=generation.usage + sampled.usage
            )
    except ConfidenceRouterError as exc:  # e.g. a prompt the edge cannot take: recorded
        return {"error": f"{type(exc).__name__}: {exc}", "latency_s": 0.0}
    scores = probe.score(messages, generation)
    return {
        "text": generation.greedy.text,
        "scores": scores,
        "sampled": sorted(probe.key(e) for e in probe.estimators if e.needs_samples),
        "latency_s": greedy_s + samples_s,
        "greedy_s": greedy_s,
        "samples_s": samples_s,
        "tokens": generation.greedy.num_tokens,
        "finish_reason": generation.greedy.finish_reason,
    }


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
        Stage(EDGE, lambda item, _: _edge(router, item)),
        Stage(CLOUD, lambda item, _: _cloud(router, item, reuse_cloud)),
        Stage(GRADE, lambda item, results: _grade(item, results, judge)),
    ]
    return run_stages(run, items, stages, progress=progress)

"""The evaluation harness on the real models: a small run, its report, and the LLM judge's
verdicts parsed from what the local cloud model really writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from confidence_router import CascadeRouter, OpenAIChatModel
from confidence_router.evaluation import (
    EvalItem,
    Judge,
    ResultStore,
    datasets_root,
    load_mmlu,
    parse_rating,
)
from confidence_router.evaluation.job import evaluate, run_config
from confidence_router.evaluation.report import summarize, write_report
from confidence_router.models.llama_cpp import LlamaCppModel

pytestmark = pytest.mark.integration

MATH = EvalItem(
    "mt_bench/t1",
    "mt_bench",
    ("What is 12 times 12?",),
    "12 times 12 is 144.",
    category="math",
)


def kit_available() -> bool:
    try:
        datasets_root()
    except Exception:
        return False
    return True


@pytest.mark.skipif(not kit_available(), reason="no data folder (set CONFIDENCE_ROUTER_DATASETS)")
def test_small_run_and_report(edge: LlamaCppModel, cloud: OpenAIChatModel, tmp_path: Path) -> None:
    items = load_mmlu("val", 6, seed=1)
    router = CascadeRouter(edge, cloud, extra_estimators=["perplexity", "mean_token_entropy"])
    with ResultStore(tmp_path / "eval.sqlite") as store:
        run = store.run("small", run_config(router))
        results = evaluate(run, items, router, progress=False)
        assert len(run) == 3 * len(items)
        for item in items:
            grade = results[item.id]["grade"]
            assert grade["edge"] in (0.0, 1.0) and grade["cloud"] in (0.0, 1.0)
            assert results[item.id]["cloud"]["latency_s"] > 0
        report = summarize(run, resamples=20)
        assert {r.name for r in report.routers} >= {"max_sequence_probability", "oracle"}
        text = write_report(run, tmp_path / "report", plots=False).read_text()
        assert "CPT(50%)" in text


def test_judge_verdicts_from_the_local_model_are_parsed_strictly(cloud: OpenAIChatModel) -> None:
    judge = Judge(cloud, max_new_tokens=200)
    verdicts = [judge.rate(MATH, answer) for answer in ("144", "It is 150.", "12 * 12 = 144")]
    for verdict in verdicts:
        assert verdict.raw  # the model's own words are kept
        assert verdict.prompt_name == "single-math-v1"
        assert verdict.parsed == (parse_rating(verdict.raw) is not None)
        if verdict.parsed:
            assert verdict.score is not None and 1 <= verdict.score <= 10
        else:
            assert verdict.score is None  # unparseable: recorded as such, never guessed
    best = judge.pick_best("What is 12 times 12?", "144", ["150", "144"])
    assert best.raw and best.parsed == bool(best.best)

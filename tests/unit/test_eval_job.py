"""An evaluation run on scripted tiers: stored stages, resume, and the report's numbers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from confidence_router import CascadeRouter
from confidence_router.evaluation import EvalItem, ResultStore
from confidence_router.evaluation.curves import router_curve
from confidence_router.evaluation.job import evaluate, run_config
from confidence_router.evaluation.report import markdown, summarize, write_report

from .helpers import ScriptedBackend, generation

# the edge answers A, B, C, D with falling confidence; every reference is A; the cloud says A
EDGE_ANSWERS = [("A", -0.1), ("B", -0.5), ("C", -1.0), ("D", -2.0)]
ITEMS = [EvalItem(f"mmlu/test/x/{i}", "mmlu", (f"question {i}",), "A", 8) for i in range(4)]


def router() -> CascadeRouter:
    edge = ScriptedBackend([generation([lp, lp], text=t) for t, lp in EDGE_ANSWERS], name="e")
    cloud = ScriptedBackend([generation([], text="A") for _ in ITEMS], name="c")
    return CascadeRouter(edge, cloud, extra_estimators=["perplexity"])


def test_evaluate_stores_every_stage_and_resumes(tmp_path: Path) -> None:
    r = router()
    with ResultStore(tmp_path / "eval.sqlite") as store:
        run = store.run("demo", run_config(r))
        results = evaluate(run, ITEMS, r, progress=False)
        first = results["mmlu/test/x/0"]
        assert first["edge"]["text"] == "A" and first["cloud"]["text"] == "A"
        assert set(first["edge"]["scores"]) == {"max_sequence_probability", "perplexity"}
        assert [results[i.id]["grade"]["edge"] for i in ITEMS] == [1.0, 0.0, 0.0, 0.0]
        assert all(results[i.id]["grade"]["cloud"] == 1.0 for i in ITEMS)
        again = evaluate(run, ITEMS, r, progress=False)  # the scripted tiers have nothing left
        assert again == results and len(run) == 12


def test_report_numbers(tmp_path: Path) -> None:
    r = router()
    with ResultStore(tmp_path / "eval.sqlite") as store:
        run = store.run("demo", run_config(r))
        evaluate(run, ITEMS, r, progress=False)
        report = summarize(run, resamples=50)
        rows = {row.name: row for row in report.routers}
        msp = np.exp([-0.1, -0.5, -1.0, -2.0])
        by_hand = router_curve(1 - msp, [1, 0, 0, 0], [1, 1, 1, 1])
        assert rows["max_sequence_probability"].cpt50.value == pytest.approx(by_hand.cpt(0.5))
        assert rows["random"].cpt50.value == pytest.approx(0.5)
        # the least confident items are the wrong ones: the router is as good as the oracle
        assert rows["max_sequence_probability"].cpt80.value == pytest.approx(
            rows["oracle"].cpt80.value
        )
        interval = rows["max_sequence_probability"].apgr
        assert interval.low <= interval.value <= interval.high
        shares = [row.share for row in report.latency if row.router == "perplexity"]
        assert shares == [0.0, 0.25, 0.5, 0.75, 1.0]
        text = markdown(report)
        assert "| max_sequence_probability |" in text and "cloud only" in text
        path = write_report(run, tmp_path / "out", [None, "mmlu/"], plots=False)
        assert path.read_text().count("| router | CPT(50%)") == 2
        assert not math.isnan(rows["oracle"].apgr.value)


def test_report_plots_are_pngs(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    r = router()
    with ResultStore(tmp_path / "eval.sqlite") as store:
        run = store.run("demo", run_config(r))
        evaluate(run, ITEMS, r, progress=False)
        text = write_report(run, tmp_path / "out", [None]).read_text()
    pngs = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert pngs == ["demo_latency.png", "demo_quality.png"]
    assert all((tmp_path / "out" / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert "![demo_quality](demo_quality.png)" in text

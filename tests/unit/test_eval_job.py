"""An evaluation run on scripted tiers: stored stages, resume, and the report's numbers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from confidence_router import CascadeRouter
from confidence_router.errors import InvalidInputError
from confidence_router.evaluation import EvalItem, ResultStore, offline
from confidence_router.evaluation.curves import router_curve
from confidence_router.evaluation.job import evaluate, run_config
from confidence_router.evaluation.report import ExtraRouter, markdown, summarize, write_report

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
        assert shares == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0]
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


def test_extra_routers_are_scored_and_pay_their_own_latency(tmp_path: Path) -> None:
    r = router()
    with ResultStore(tmp_path / "eval.sqlite") as store:
        run = store.run("demo", run_config(r))
        evaluate(run, ITEMS, r, progress=False)
        ids = [i.id for i in ITEMS]
        # item 0 is the only one the edge gets right: a perfect predictive router ranks it last
        perfect = ExtraRouter({i: (0.0 if n == 0 else 1.0) for n, i in enumerate(ids)})
        # the hybrid sends item 0 to the cloud at once, keeps item 1, cascades items 2 and 3
        p_cloud = dict(zip(ids, [0.9, 0.1, 0.5, 0.6], strict=True))
        hybrid = offline.hybrid(p_cloud, {ids[2]: 0.2, ids[3]: 0.9}, (0.3, 0.7))
        report = summarize(run, extra={"predictive": perfect, "hybrid": hybrid}, resamples=20)
        rows = {row.name: row for row in report.routers}
        assert rows["predictive"].apgr.value == pytest.approx(rows["oracle"].apgr.value)
        assert rows["hybrid"].apgr.value < rows["predictive"].apgr.value  # item 0 sent first
        t_edge = np.array([run.get(i, "edge")["latency_s"] for i in ids])
        t_cloud = np.array([run.get(i, "cloud")["latency_s"] for i in ids])
        at = {(x.router, x.share): x for x in report.latency}
        # all to the cloud: the predictive router never ran the edge, the cascade always did
        assert at[("predictive", 1.0)].p50 == pytest.approx(np.percentile(t_cloud, 50))
        assert at[("perplexity", 1.0)].p50 == pytest.approx(np.percentile(t_edge + t_cloud, 50))
        # nothing to the cloud: the predictive router answered every item at the edge
        assert at[("predictive", 0.0)].p50 == pytest.approx(np.percentile(t_edge, 50))
        # the hybrid ran the edge first on items 2 and 3: at share 1 it pays edge + cloud there
        hybrid_all = t_cloud + np.where(np.arange(4) >= 2, t_edge, 0.0)
        assert at[("hybrid", 1.0)].p95 == pytest.approx(np.percentile(hybrid_all, 95))
        text = write_report(
            run, tmp_path / "out", [None], plots=False, extra={"predictive": perfect}
        ).read_text()
        assert "| predictive |" in text and ids[3] in text and "Compute: edge" in text
        with pytest.raises(InvalidInputError, match="no score for 3 items"):
            summarize(run, extra={"partial": ExtraRouter({ids[0]: 1.0})})
        with pytest.raises(InvalidInputError, match="taken"):
            summarize(run, extra={"oracle": perfect})


def test_each_estimator_is_charged_only_the_edge_work_it_needs(tmp_path: Path) -> None:
    """The greedy answer and the samples are timed apart: a white-box cascade pays the greedy
    answer alone, a sampling estimator (SE) pays both."""
    from confidence_router.generation import Answer, Generation
    from confidence_router.uncertainty import SemanticEntropy

    from .sample_helpers import FirstLetter

    class Timed(ScriptedBackend):
        def generate(self, messages, options=None, tools=None):  # type: ignore[no-untyped-def]
            self.delay = 0.12 if options is not None and options.samples_only else 0.02
            return super().generate(messages, options, tools)

    outputs: list[object] = []
    for text, lp in EDGE_ANSWERS:
        outputs.append(generation([lp, lp], text=text))
        sampled = tuple(Answer(text=t, token_ids=(1,), token_logprobs=(-0.5,)) for t in "AABBC")
        outputs.append(Generation(greedy=Answer(text=""), samples=sampled))
    edge = Timed(outputs, name="e")  # type: ignore[arg-type]
    cloud = ScriptedBackend([generation([], text="A") for _ in ITEMS], name="c")
    r = CascadeRouter(
        edge,
        cloud,
        estimator=SemanticEntropy(FirstLetter()),
        extra_estimators=["max_sequence_probability"],
    )
    with ResultStore(tmp_path / "eval.sqlite") as store:
        run = store.run("split", run_config(r))
        results = evaluate(run, ITEMS, r, progress=False)
        stored = results[ITEMS[0].id]["edge"]
        assert stored["sampled"] == ["semantic_entropy"]
        assert 0.02 <= stored["greedy_s"] < 0.1 <= stored["samples_s"]
        assert stored["latency_s"] == pytest.approx(stored["greedy_s"] + stored["samples_s"])
        assert set(stored["scores"]) == {"semantic_entropy", "max_sequence_probability"}
        assert edge.calls[1][1].samples_only and edge.calls[0][1].num_samples == 0
        report = summarize(run, resamples=10)
        at = {(x.router, x.share): x for x in report.latency}
        greedy = np.array([run.get(i.id, "edge")["greedy_s"] for i in ITEMS])
        whole = np.array([run.get(i.id, "edge")["latency_s"] for i in ITEMS])
        assert at[("max_sequence_probability", 0.0)].p50 == pytest.approx(np.percentile(greedy, 50))
        assert at[("semantic_entropy", 0.0)].p50 == pytest.approx(np.percentile(whole, 50))
        assert "plus the samples for semantic_entropy" in markdown(report)


def test_stored_run_opens_an_existing_run_and_names_the_others(tmp_path: Path) -> None:
    from confidence_router.errors import ConfigurationError
    from confidence_router.evaluation.store import stored_run

    with ResultStore(tmp_path / "eval.sqlite") as store:
        store.run("demo", {"a": 1}).put("x", "edge", {"text": "A"})
    with stored_run(tmp_path / "eval.sqlite", "demo") as run:
        assert run.config == {"a": 1} and run.get("x", "edge") == {"text": "A"}
    missing_run = stored_run(tmp_path / "eval.sqlite", "other")
    with pytest.raises(ConfigurationError, match=r"no run 'other' .*\['demo'\]"), missing_run:
        pass
    missing_file = stored_run(tmp_path / "none.sqlite", "demo")
    with pytest.raises(ConfigurationError, match="does not exist"), missing_file:
        pass
    assert not (tmp_path / "none.sqlite").exists()  # never created by looking

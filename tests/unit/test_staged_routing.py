"""Staged escalation: the cheap signal decides outside the band, SE samples only inside it."""

import math

import pytest

from confidence_router import CascadeRouter, Reason, calibrate_band, calibrate_threshold
from confidence_router.errors import ConfigurationError
from confidence_router.generation import Generation
from confidence_router.uncertainty import MaxSequenceProbability, SemanticEntropy

from .helpers import ScriptedBackend, generation, samples
from .sample_helpers import FirstLetter

SURE = generation([math.log(0.9)] * 3, text="edge answer")  # cheap confidence 0.9
MID = generation([math.log(0.5)] * 3, text="edge maybe")  # 0.5: inside the band
UNSURE = generation([math.log(0.2)] * 3, text="edge guess")  # 0.2
AGREE = samples("apple", "avocado", "apricot")  # one meaning: SE confidence 1
SPLIT = samples("apple", "banana", "cherry")  # three meanings: SE confidence 0
CLOUD = generation([], text="cloud answer")
BAND = (0.3, 0.8)


def staged(edge_out: list[Generation], threshold: float = 0.5, **kw: object):
    edge = ScriptedBackend(edge_out, name="edge-m")
    cloud = ScriptedBackend([CLOUD] * 4, name="cloud-m", tools=True)
    se = SemanticEntropy(FirstLetter(), num_samples=3)
    kw.setdefault("band", BAND)
    router = CascadeRouter(edge, cloud, estimator=se, threshold=threshold, **kw)  # type: ignore[arg-type]
    return router, edge, cloud


def test_cheap_signal_above_the_band_keeps_the_edge_answer_without_samples() -> None:
    r, edge, cloud = staged([SURE])
    out = r.route("q")
    assert (out.route, out.reason, out.stage) == ("edge", Reason.CONFIDENT, "cheap")
    assert out.estimator == "max_sequence_probability" and out.confidence == pytest.approx(0.9)
    assert out.scores == {"max_sequence_probability": pytest.approx(0.9)}
    assert out.band == BAND and out.edge_tokens == 3
    assert len(edge.calls) == 1 and edge.calls[0][1].num_samples == 0 and not cloud.calls


def test_cheap_signal_below_the_band_escalates_without_samples() -> None:
    r, edge, cloud = staged([UNSURE])
    out = r.route("q")
    assert (out.route, out.reason, out.stage) == ("cloud", Reason.LOW_CONFIDENCE, "cheap")
    assert out.text == "cloud answer" and out.edge_text == "edge guess"
    assert len(edge.calls) == 1 and len(cloud.calls) == 1


def test_inside_the_band_the_samples_are_generated_and_se_decides() -> None:
    r, edge, _ = staged([MID, AGREE])
    out = r.route("q", max_new_tokens=9)
    assert (out.route, out.reason, out.stage) == ("edge", Reason.CONFIDENT, "full")
    assert out.estimator == "semantic_entropy" and out.confidence == pytest.approx(1.0)
    assert out.scores == {
        "max_sequence_probability": pytest.approx(0.5),
        "semantic_entropy": pytest.approx(1.0),
    }
    assert out.text == "edge maybe" and out.edge_tokens == 3
    assert out.usage["edge"].output_tokens == 3 + 6  # greedy + samples
    assert out.usage["edge"].input_tokens == 10  # the prompt is prefilled twice
    first, second = (call[1] for call in edge.calls)
    assert (first.num_samples, first.samples_only) == (0, False)
    assert (second.num_samples, second.samples_only, second.max_new_tokens) == (3, True, 9)
    assert second.early_exit_floor is None


def test_inside_the_band_disagreeing_samples_escalate() -> None:
    out = staged([MID, SPLIT])[0].route("q")
    assert (out.route, out.reason, out.stage) == ("cloud", Reason.LOW_CONFIDENCE, "full")
    assert out.confidence == pytest.approx(0.0)


def test_per_call_threshold_applies_to_the_full_stage_only() -> None:
    r, _, _ = staged([UNSURE, MID, SPLIT])
    assert r.route("q", threshold=0.0).reason is Reason.LOW_CONFIDENCE  # cheap stage decided
    assert r.route("q", threshold=0.0).route == "edge"  # full stage: 0 is not < 0


def test_cheap_estimators_are_scored_at_the_cheap_stage() -> None:
    r, _, _ = staged([SURE], extra_estimators=["perplexity"])
    assert set(r.route("q").scores) == {"max_sequence_probability", "perplexity"}
    assert r.staged and r.num_samples == 3


def test_main_estimator_without_samples_needs_no_second_call() -> None:
    edge = ScriptedBackend([MID])
    r = CascadeRouter(edge, ScriptedBackend([]), estimator="perplexity", band=BAND, threshold=0.4)
    out = r.route("q")
    assert (out.stage, out.estimator, out.route) == ("full", "perplexity", "edge")
    assert len(edge.calls) == 1


def test_assess_and_outcome_carry_the_cheap_decision() -> None:
    r, _, _ = staged([SURE, MID, SPLIT])
    cheap = r.assess("q")
    assert (cheap.stage, cheap.reason) == ("cheap", Reason.CONFIDENT)
    assert r.outcome(cheap, threshold=1.0) is Reason.CONFIDENT  # the cheap decision stands
    full = r.assess("q")
    assert (full.stage, full.reason, len(full.generation.samples)) == ("full", None, 3)
    assert r.outcome(full, threshold=0.5) is Reason.LOW_CONFIDENCE
    assert r.outcome(full, threshold=0.0) is Reason.CONFIDENT


def test_unstaged_router_reports_no_stage_and_one_call() -> None:
    edge = ScriptedBackend([samples_with_greedy()])
    r = CascadeRouter(
        edge, ScriptedBackend([]), estimator=SemanticEntropy(FirstLetter(), num_samples=3)
    )
    out = r.route("q")
    assert (out.stage, out.band, out.edge_tokens, out.route) == (None, None, 3, "edge")
    assert edge.calls[0][1].num_samples == 3 and not edge.calls[0][1].samples_only


def samples_with_greedy() -> Generation:
    return Generation(greedy=MID.greedy, samples=AGREE.samples, usage=MID.usage)


async def test_async_and_streaming_drive_both_edge_calls() -> None:
    r, _, _ = staged([MID, AGREE, MID, SPLIT])
    first = await r.aroute("q")
    assert (first.stage, first.route) == ("full", "edge")
    chunks = [c async for c in r.astream("q")]
    assert "".join(c.text for c in chunks) == "cloud answer"
    final = chunks[-1].response
    assert final is not None and (final.stage, final.reason) == ("full", Reason.LOW_CONFIDENCE)
    r2, _, _ = staged([MID, AGREE])
    sync_chunks = list(r2.stream("q"))
    assert [c.text for c in sync_chunks[:-1]] == ["edge maybe"]


@pytest.mark.parametrize(
    "band",
    [
        (0.8, 0.2),
        (-0.1, 0.5),
        (0.2, 1.1),
        (float("nan"), 0.5),
        0.5,
        "ab",
        (0.1, 0.2, 0.3),
        (True, 1),
    ],
)
def test_band_is_validated(band: object) -> None:
    with pytest.raises(ConfigurationError, match="band"):
        staged([], band=band)
    r, _, _ = staged([])
    with pytest.raises(ConfigurationError, match="band"):
        r.with_band(band)  # type: ignore[arg-type]


def test_stage_estimator_must_not_need_samples() -> None:
    with pytest.raises(ConfigurationError, match="stage_estimator"):
        staged([], stage_estimator=SemanticEntropy(FirstLetter()))
    r, _, _ = staged([SURE], stage_estimator="perplexity")
    assert r.route("q").estimator == "perplexity"


def test_with_band_copies() -> None:
    r, _, _ = staged([])
    assert r.with_band(None).band is None and r.band == BAND
    assert r.with_band((0.1, 0.2)).band == (0.1, 0.2)


def test_calibrate_band_scores_the_cheap_stage_only() -> None:
    outs = [generation([math.log(p)] * 2) for p in (0.1, 0.3, 0.5, 0.7, 0.9)]
    r, edge, _ = staged(outs, band=None)
    cal = calibrate_band(
        r, ["a", "b", "c", "d", "e"], target_full_share=0.4, target_cloud_share=0.4
    )
    assert cal.confidences == pytest.approx((0.1, 0.3, 0.5, 0.7, 0.9))
    assert cal.band == pytest.approx((0.2, 0.6))  # ranks 1..2 around the 40% cut
    assert cal.achieved_full_share == pytest.approx(0.4) and cal.n == 5
    assert all(call[1].num_samples == 0 for call in edge.calls)
    assert r.band is None


def test_calibrate_threshold_scores_every_prompt_with_the_deciding_estimator() -> None:
    r, edge, _ = staged([samples_with_greedy(), samples_with_greedy()])
    cal = calibrate_threshold(r, ["a", "b"], target_cloud_share=0.5)
    assert cal.confidences == (1.0, 1.0)  # SE, not the cheap MSP 0.5
    assert all(call[1].num_samples == 3 for call in edge.calls)


def test_stage_estimator_default_is_msp() -> None:
    r, _, _ = staged([])
    assert isinstance(r.stage_estimator, MaxSequenceProbability)
    assert [e.name for e in r.all_estimators] == ["max_sequence_probability", "semantic_entropy"]

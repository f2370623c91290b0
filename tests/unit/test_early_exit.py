"""Early exit: the running confidence rule, and the router's handling of an exited edge answer."""

import math
from types import SimpleNamespace as NS

import pytest

from confidence_router import CascadeRouter, OpenAIChatModel, Reason
from confidence_router.errors import CapabilityError, ConfigurationError
from confidence_router.generation import EARLY_EXIT, GenerationOptions
from confidence_router.messages import normalize_messages
from confidence_router.uncertainty import RunningConfidence, SemanticEntropy, exit_point

from .helpers import ScriptedBackend, generation
from .sample_helpers import FirstLetter

LP = [math.log(p) for p in (0.9, 0.8, 0.1, 0.05, 0.9)]


def test_running_confidence_is_the_geometric_mean_of_the_prefix() -> None:
    running = RunningConfidence()
    assert running.value == 1.0
    for lp in LP[:3]:
        running.push(lp)
    assert running.value == pytest.approx((0.9 * 0.8 * 0.1) ** (1 / 3))
    assert running.tokens == 3


def test_windowed_running_confidence() -> None:
    running = RunningConfidence(window=2)
    for lp in LP[:4]:
        running.push(lp)
    assert running.value == pytest.approx(math.sqrt(0.1 * 0.05))


def test_exit_waits_for_min_tokens_then_fires_below_the_floor() -> None:
    # prefix values: .9, .849, .416, .245, .318
    assert exit_point(LP, 0.5, min_tokens=1) == 3
    assert exit_point(LP, 0.5, min_tokens=4) == 4
    assert exit_point(LP, 0.2, min_tokens=1) is None
    assert exit_point(LP, 0.1, min_tokens=1, window=2) == 4  # sqrt(.1 * .05) = .071
    assert exit_point(LP, 0.0) is None
    assert exit_point([], 1.0) is None


@pytest.mark.parametrize(
    "kw,field",
    [
        ({"floor": 1.5}, "early_exit_floor"),
        ({"min_tokens": 0}, "early_exit_min_tokens"),
        ({"window": 0}, "early_exit_window"),
    ],
)
def test_running_confidence_settings(kw: dict[str, float], field: str) -> None:
    floor = kw.pop("floor", 0.5)
    with pytest.raises(ConfigurationError, match=field):
        RunningConfidence(floor, **kw)  # type: ignore[arg-type]


# -- the router ------------------------------------------------------------------------------

EXITED = generation([math.log(0.9), math.log(0.1)], text="partial", finish_reason=EARLY_EXIT)
CLOUD = generation([], text="cloud answer")


def router(edge_out, **kw):
    edge = ScriptedBackend(edge_out, early_exit=True, name="edge-m")
    cloud = ScriptedBackend([CLOUD] * 3, tools=True, name="cloud-m")
    return CascadeRouter(edge, cloud, early_exit_floor=0.4, **kw), edge, cloud


def test_an_early_exit_escalates_at_once_and_records_the_prefix() -> None:
    r, edge, cloud = router([EXITED], early_exit_min_tokens=2, early_exit_window=8)
    out = r.route("q")
    assert (out.route, out.reason, out.text) == ("cloud", Reason.EARLY_EXIT, "cloud answer")
    assert out.edge_tokens == 2 and out.edge_text == "partial"
    assert out.estimator == "running_confidence" and out.stage is None
    assert out.confidence == pytest.approx(math.sqrt(0.9 * 0.1))
    opts = edge.calls[0][1]
    assert (opts.early_exit_floor, opts.early_exit_min_tokens, opts.early_exit_window) == (
        0.4,
        2,
        8,
    )
    assert len(cloud.calls) == 1
    assert out.decision()["reason"] == "early_exit"


def test_an_answer_that_ran_to_the_end_is_scored_as_usual() -> None:
    sure = generation([math.log(0.9)] * 3, text="full answer")
    out = router([sure])[0].route("q")
    assert (out.route, out.reason, out.edge_tokens) == ("edge", Reason.CONFIDENT, 3)


def test_an_early_exit_in_a_staged_router_skips_the_samples() -> None:
    se = SemanticEntropy(FirstLetter(), num_samples=3)
    r, edge, _ = router([EXITED], estimator=se, band=(0.0, 1.0))
    assert r.route("q").reason is Reason.EARLY_EXIT
    assert len(edge.calls) == 1 and edge.calls[0][1].num_samples == 0


def test_early_exit_is_off_by_default() -> None:
    r = CascadeRouter(ScriptedBackend([]), ScriptedBackend([]))
    assert r.early_exit_floor is None and r.edge_options().early_exit_floor is None


def test_an_edge_that_cannot_exit_early_is_refused() -> None:
    with pytest.raises(CapabilityError, match="early"):
        CascadeRouter(ScriptedBackend([]), ScriptedBackend([]), early_exit_floor=0.3)
    openai_edge = OpenAIChatModel("m", base_url="http://127.0.0.1:9/v1", tier="edge", logprobs=True)
    with pytest.raises(CapabilityError, match="early"):
        CascadeRouter(openai_edge, ScriptedBackend([]), early_exit_floor=0.3)
    r = CascadeRouter(openai_edge, ScriptedBackend([]))
    with pytest.raises(CapabilityError, match="early"):
        r.with_early_exit(0.3)


@pytest.mark.parametrize(
    "kw,field",
    [
        ({"early_exit_floor": 1.5}, "early_exit_floor"),
        ({"early_exit_floor": "0.3"}, "early_exit_floor"),
        ({"early_exit_min_tokens": 0}, "early_exit_min_tokens"),
        ({"early_exit_window": 0}, "early_exit_window"),
    ],
)
def test_router_early_exit_settings_are_validated(kw: dict[str, object], field: str) -> None:
    kw = {"early_exit_floor": 0.3, **kw}
    with pytest.raises(ConfigurationError, match=field):
        CascadeRouter(ScriptedBackend([], early_exit=True), ScriptedBackend([]), **kw)  # type: ignore[arg-type]


# -- the OpenAI-compatible backend: no early exit, samples-only calls --------------------------


def fake_response(text: str) -> NS:
    message = NS(content=text, tool_calls=None)
    choice = NS(message=message, finish_reason="stop", logprobs=None)
    return NS(choices=[choice], usage=NS(prompt_tokens=4, completion_tokens=2))


def test_openai_backend_rejects_early_exit_and_skips_the_greedy_for_samples_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = OpenAIChatModel("m", base_url="http://127.0.0.1:9/v1", tier="edge")
    msgs = normalize_messages("q")
    with pytest.raises(CapabilityError, match="early exit"):
        model.generate(msgs, GenerationOptions(early_exit_floor=0.3))
    sent: list[dict[str, object]] = []

    def call(body: dict[str, object], deadline: float | None = None) -> NS:
        sent.append(body)
        return fake_response(f"sample {len(sent)}")

    monkeypatch.setattr(model, "_call", call)
    gen = model.generate(msgs, GenerationOptions(num_samples=2, samples_only=True))
    assert [b["temperature"] for b in sent] == [1.0, 1.0]
    assert gen.greedy.text == "" and [s.text for s in gen.samples] == ["sample 1", "sample 2"]
    assert gen.usage.output_tokens == 4


def test_samples_only_needs_samples() -> None:
    with pytest.raises(ValueError, match="samples_only"):
        GenerationOptions(samples_only=True)

"""Hidden-state probes: training picks what is informative, persistence, refusal of another
model's probe, the estimator and the pre-generation step, the `train-probe` command."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from confidence_router import cli
from confidence_router.errors import CapabilityError, ConfigurationError, InvalidInputError
from confidence_router.generation import (
    Answer,
    Generation,
    GenerationOptions,
    HiddenStates,
)
from confidence_router.messages import ChatMessage
from confidence_router.models.base import Capabilities, ChatBackend
from confidence_router.routing import CascadeRouter
from confidence_router.routing.pregeneration import PreGeneration
from confidence_router.statistics import Statistic
from confidence_router.training.probe import features_of, fit_logistic, train_probe
from confidence_router.training.probe_data import low_se_labels
from confidence_router.uncertainty import RequestStatistics, get_estimator
from confidence_router.uncertainty.probe import Probe, ProbeConfidence, load_probe, save_probe

from .helpers import ScriptedBackend

D = 8
HASH = "a" * 64


def synthetic(n: int = 240, seed: int = 0) -> tuple[dict[tuple[str, int], Any], np.ndarray]:
    """Answer features carry the label (dimension 0), prompt features are noise."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.5).astype(float)
    answer = rng.normal(size=(n, D))
    answer[:, 0] += 2.0 * (2 * y - 1)
    prompt = rng.normal(size=(n, D))
    return {("answer", -1): answer, ("prompt", -1): prompt}, y


def probe(source: str = "answer", layer: int = -1, sha: str = HASH) -> Probe:
    w = np.zeros(D)
    w[0] = 1.0
    return Probe(w, 0.0, np.zeros(D), np.ones(D), source, "correct", layer, sha)  # type: ignore[arg-type]


def hidden(x0: float, layer: int = -1) -> HiddenStates:
    v = np.zeros(D, dtype=np.float32)
    v[0] = x0
    return HiddenStates(prompt=-v, answer_mean=v, layer=layer, answer_states=3)


def stats_with(h: HiddenStates | None) -> RequestStatistics:
    answer = Answer(text="4", token_ids=(1,), token_logprobs=(-0.1,), hidden=h)
    return RequestStatistics([ChatMessage(role="user", content="q")], Generation(greedy=answer))


class Edge(ScriptedBackend):
    """A scripted edge that names its weights and reads prompt states."""

    model_sha256 = HASH

    def prompt_state(self, messages: Sequence[ChatMessage], layer: int = -1) -> np.ndarray:
        v = np.zeros(D, dtype=np.float32)
        v[0] = float(len(messages[-1].content))
        return v


def test_fit_logistic_separates_and_standardizes() -> None:
    features, y = synthetic()
    w, b, mean, std = fit_logistic(features[("answer", -1)], y, 1e-3)
    assert w[0] > 1.0 and np.all(np.abs(w[1:]) < np.abs(w[0]) / 4)
    logits = ((features[("answer", -1)] - mean) / std) @ w + b
    assert ((logits > 0) == (y > 0.5)).mean() > 0.95
    assert mean.shape == std.shape == (D,) and np.all(std > 0)
    with pytest.raises(ConfigurationError):
        fit_logistic(features[("answer", -1)], y, 0.0)


@pytest.mark.parametrize("informative", ["answer", "prompt"])
def test_training_picks_the_informative_source(informative: str) -> None:
    features, y = synthetic()
    if informative == "prompt":
        features = {
            ("answer", -1): features[("prompt", -1)],
            ("prompt", -1): features[("answer", -1)],
        }
    fitted = train_probe(features, y, model_sha256=HASH, model_name="m")
    assert fitted.source == informative and fitted.target == "correct"
    assert fitted.meta["heldout_auroc"] > 0.9
    assert len(fitted.meta["candidates"]) == 2 * 3  # sources x default L2 strengths
    assert fitted.meta["n_train"] == len(y) and len(fitted.meta["data_hash"]) == 64


def test_training_picks_the_informative_layer_and_target() -> None:
    features, y = synthetic()
    rng = np.random.default_rng(1)
    layered = {("answer", -3): features[("prompt", -1)], ("answer", -1): features[("answer", -1)]}
    labels = {"correct": y, "low_se": (rng.random(len(y)) < 0.5).astype(float)}
    fitted = train_probe(layered, labels, model_sha256=HASH, l2=(1e-2,))
    assert (fitted.layer, fitted.target) == (-1, "correct")
    assert fitted.meta["selected_on"] == "correct"
    # selected on the low_se labels: the probe that predicts them is preferred
    informative = {"correct": labels["low_se"], "low_se": y}
    chosen = train_probe(layered, informative, model_sha256=HASH, l2=(1e-2,), select_on="low_se")
    assert chosen.target == "low_se" and chosen.layer == -1


def test_training_refuses_bad_inputs() -> None:
    features, y = synthetic(20)
    with pytest.raises(InvalidInputError):
        train_probe(features, np.zeros(20), model_sha256=HASH)  # one class
    with pytest.raises(ConfigurationError):
        train_probe({("middle", -1): features[("answer", -1)]}, y, model_sha256=HASH)
    with pytest.raises(ConfigurationError):
        train_probe(features, {"wrong": y}, model_sha256=HASH)
    with pytest.raises(ConfigurationError):
        train_probe(features, y, model_sha256=HASH, select_on="low_se")


def test_low_se_labels_split_at_the_median() -> None:
    assert low_se_labels([0.0, 0.5, 1.0, 1.5]).tolist() == [1, 1, 0, 0]
    assert low_se_labels([0.0, 0.0, 0.0, 1.0]).tolist() == [1, 1, 1, 0]  # ties at the median


def test_features_of_stacks_both_sources() -> None:
    got = features_of([hidden(1.0), hidden(2.0)])
    assert set(got) == {("answer", -1), ("prompt", -1)}
    assert got[("answer", -1)][:, 0].tolist() == [1.0, 2.0]
    assert got[("prompt", -1)][:, 0].tolist() == [-1.0, -2.0]
    with pytest.raises(InvalidInputError):
        features_of([hidden(1.0), hidden(1.0, layer=-2)])


def test_save_load_round_trip(tmp_path: Path) -> None:
    features, y = synthetic()
    fitted = train_probe(features, y, model_sha256=HASH, model_name="smol")
    path = save_probe(fitted, tmp_path / "p")
    assert path.suffix == ".json" and (tmp_path / "p.safetensors").is_file()
    meta = json.loads(path.read_text())
    assert meta["model_sha256"] == HASH and meta["source"] == "answer" and meta["layer"] == -1
    assert {"data_hash", "created", "model_name", "heldout_auroc"} <= set(meta)
    for where in (path, tmp_path / "p.safetensors", tmp_path / "p"):
        loaded = load_probe(where, HASH)
        x = features[("answer", -1)][:5]
        assert np.allclose(loaded.predict(x), fitted.predict(x))
        assert loaded.meta["data_hash"] == fitted.meta["data_hash"]
    with pytest.raises(ConfigurationError):
        load_probe(tmp_path / "missing")


def test_a_probe_for_another_model_is_refused(tmp_path: Path) -> None:
    path = save_probe(probe(), tmp_path / "p")
    with pytest.raises(ConfigurationError, match="retrain"):
        load_probe(path, "b" * 64)
    other = Edge([])
    other.model_sha256 = "b" * 64  # type: ignore[misc]
    with pytest.raises(ConfigurationError):
        ProbeConfidence(path).bind(other)
    with pytest.raises(ConfigurationError):
        ProbeConfidence(path, edge=other)
    with pytest.raises(CapabilityError):  # a backend that cannot name its weights
        ProbeConfidence(path).bind(ScriptedBackend([]))
    assert ProbeConfidence(path).bind(Edge([])).edge is not None


def test_confidence_is_the_probability_and_monotone_in_the_logit() -> None:
    estimator = ProbeConfidence(probe())
    values = [estimator.confidence(stats_with(hidden(x))) for x in (-3.0, -1.0, 0.0, 1.0, 3.0)]
    assert values == sorted(values) and len(set(values)) == 5
    assert values[2] == pytest.approx(0.5)
    assert values[-1] == pytest.approx(1 / (1 + math.exp(-3.0)))
    assert estimator.uncertainty(stats_with(hidden(2.0))) == pytest.approx(-2.0)
    prompt_probe = ProbeConfidence(probe("prompt"))  # reads the prompt state (-x here)
    assert prompt_probe.confidence(stats_with(hidden(3.0))) == pytest.approx(values[0])


def test_missing_or_mismatched_states_are_errors() -> None:
    estimator = ProbeConfidence(probe())
    with pytest.raises(CapabilityError):
        estimator.confidence(stats_with(None))
    with pytest.raises(ConfigurationError):
        estimator.confidence(stats_with(hidden(1.0, layer=-2)))
    with pytest.raises(ConfigurationError):
        Probe(np.zeros(D), 0.0, np.zeros(D), np.zeros(D))  # std 0
    with pytest.raises(ConfigurationError):
        Probe(np.zeros(D), 0.0, np.zeros(D), np.ones(D), layer=3)


def test_a_prompt_probe_is_a_pre_generation_step() -> None:
    step = ProbeConfidence(probe("prompt"), edge=Edge([]), band=(0.2, 0.8))
    assert isinstance(step, PreGeneration) and step.kind == "probe" and step.band == (0.2, 0.8)
    p = step.p_cloud([ChatMessage(role="user", content="abc")])  # prompt_state: x0 = 3
    assert p == pytest.approx(1 - 1 / (1 + math.exp(-3.0)))
    with pytest.raises(ConfigurationError):
        ProbeConfidence(probe("answer"), edge=Edge([])).p_cloud([])
    with pytest.raises(CapabilityError):
        ProbeConfidence(probe("prompt")).p_cloud([ChatMessage(role="user", content="a")])
    with pytest.raises(ConfigurationError):
        ProbeConfidence(probe(), band=(0.8, 0.2))


def test_registered_and_used_by_a_router(tmp_path: Path) -> None:
    path = save_probe(probe(layer=-2), tmp_path / "p")
    estimator = get_estimator("probe", probe=str(path))
    assert isinstance(estimator, ProbeConfidence) and estimator.hidden_layer == -2
    answer = Answer(text="4", token_ids=(1,), token_logprobs=(-0.1,), hidden=hidden(2.0, -2))
    edge = Edge([Generation(greedy=answer)])
    router = CascadeRouter(edge, ScriptedBackend([]), estimator=estimator, threshold=0.5)
    options = router.policy.edge_options()
    assert options.hidden_states and options.hidden_layer == -2
    assert not router.policy.sample_options().hidden_states
    result = router.route("q")
    assert result.route == "edge" and result.confidence == pytest.approx(1 / (1 + math.exp(-2)))
    assert edge.calls[0][1].hidden_states
    no_states = ScriptedBackend([], stats=frozenset({Statistic.GREEDY_LOGPROBS}))
    with pytest.raises(CapabilityError):
        CascadeRouter(no_states, ScriptedBackend([]), estimator=estimator)


class StatesEdge(ChatBackend):
    """Answers "4" or "5" (samples alternate per prompt); hidden states encode the prompt's
    length in dimension 0, which is what the labels follow."""

    model_sha256 = HASH

    def __init__(self) -> None:
        self.options: list[GenerationOptions] = []

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(statistics=frozenset(Statistic))

    @property
    def model_name(self) -> str:
        return "states-edge"

    def generate(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions | None = None,
        tools: Any = None,
    ) -> Generation:
        options = options or GenerationOptions()
        self.options.append(options)
        size = len(messages[-1].content)
        h = hidden(float(size) + 0.01 * len(self.options), options.hidden_layer)
        greedy = Answer(text="4", token_ids=(1,), token_logprobs=(-0.1,), hidden=h)
        texts = ["4"] * options.num_samples if size % 2 else ["4", "5"] * options.num_samples
        samples = tuple(Answer(text=t, token_ids=(1,), token_logprobs=(-0.1,)) for t in texts)
        return Generation(greedy=greedy, samples=samples[: options.num_samples])


def test_train_probe_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "rows.jsonl"
    rows = [{"prompt": "x" * n, "label": int(n % 2)} for n in range(3, 43)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    edge = StatesEdge()
    monkeypatch.setattr("confidence_router.models.load_edge", lambda *a: edge)
    out = tmp_path / "probe"
    args = ["train-probe", "--data", str(data), "--out", str(out), "--samples", "2"]
    assert cli.main([*args, "--equivalence", "answer", "--max-new-tokens", "8"]) == 0
    loaded = load_probe(out, HASH)
    assert loaded.meta["model_name"] == "states-edge" and loaded.meta["n_train"] == 40
    assert {c["target"] for c in loaded.meta["candidates"]} == {"correct", "low_se"}
    assert all(o.hidden_states and o.max_new_tokens == 8 for o in edge.options)
    assert [o.num_samples for o in edge.options] == [2] * 40
    assert cli.main(["train-probe", "--data", str(tmp_path / "none.jsonl"), "--out", "x"]) != 0

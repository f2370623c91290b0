"""A probe's data as a stored edge-only run: float16 states in JSON, `evaluate_edge` (no
cloud, resumable), `probe_data_from_run`, and `train-probe --store`'s refusals."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from confidence_router.errors import ConfigurationError, InvalidInputError
from confidence_router.evaluation import EvalItem, ResultStore
from confidence_router.evaluation.hidden import decode_states, encode_states
from confidence_router.evaluation.job import edge_config, evaluate_edge
from confidence_router.generation import Answer, Generation, HiddenStates, Usage
from confidence_router.routing.policy import RoutingPolicy
from confidence_router.training.commands import _stored_data
from confidence_router.training.probe_data import probe_data_from_run

from .helpers import ScriptedBackend

D = 6
ITEMS = [EvalItem(f"mmlu/val/x/{i}", "mmlu", (f"question {i}",), "A", 8) for i in range(4)]
# the edge says A (right) to items 0 and 2 with a high log-prob, B (wrong) to 1 and 3
ANSWERS = [("A", -0.1), ("B", -2.0), ("A", -0.2), ("B", -3.0)]


def states(x0: float) -> HiddenStates:
    v = np.linspace(-1.0, 1.0, D).astype(np.float32) * x0
    return HiddenStates(prompt=v + 0.5, answer_mean=v, layer=-1, answer_states=2)


def edge() -> ScriptedBackend:
    outputs = [
        Generation(
            greedy=Answer(
                text=t,
                token_ids=(1,),
                token_logprobs=(lp,),
                hidden=states(float(i + 1)),
            ),
            usage=Usage(input_tokens=3, output_tokens=1),
        )
        for i, (t, lp) in enumerate(ANSWERS)
    ]
    backend = ScriptedBackend(outputs, name="edge-x")
    backend.model_sha256 = "b" * 64  # type: ignore[attr-defined]
    return backend


def test_states_round_trip_at_float16_precision() -> None:
    h = states(1.2345)
    back = decode_states(encode_states(h))
    assert back.layer == -1 and back.answer_states == 2
    np.testing.assert_allclose(back.answer_mean, h.answer_mean, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(back.prompt, h.prompt, rtol=1e-3, atol=1e-3)
    record = encode_states(h)
    with pytest.raises(InvalidInputError):
        decode_states({**record, "width": D + 1})
    with pytest.raises(InvalidInputError):
        decode_states({**record, "prompt": "not base64!"})
    with pytest.raises(InvalidInputError):
        decode_states({"layer": -1})
    with pytest.raises(InvalidInputError):
        decode_states({**record, "prompt": 12345})  # not text
    with pytest.raises(InvalidInputError, match="float16"):
        encode_states(states(1e6))  # 1e6 overflows float16: refused, not stored as inf


def test_edge_only_run_stores_answers_states_and_grades_and_resumes(tmp_path: Path) -> None:
    backend = edge()
    policy = RoutingPolicy.build(backend)
    with ResultStore(tmp_path / "probe.sqlite") as store:
        run = store.run("train", edge_config(backend, policy, hidden_states=True))
        results = evaluate_edge(run, ITEMS, backend, policy, states=True, progress=False)
        assert [results[i.id]["grade"]["edge"] for i in ITEMS] == [1.0, 0.0, 1.0, 0.0]
        assert all("cloud" not in results[i.id] for i in ITEMS)
        assert all(call[1].hidden_states for call in backend.calls)
        assert len(run) == 8  # edge + grade per item, nothing else
        again = evaluate_edge(run, ITEMS, backend, policy, states=True, progress=False)
        assert again == results and len(backend.calls) == 4  # nothing asked twice

        ids, data = probe_data_from_run(run, se_key="max_sequence_probability")
        assert ids == sorted(i.id for i in ITEMS)
        np.testing.assert_array_equal(data.labels["correct"], [1.0, 0.0, 1.0, 0.0])
        # the two most confident answers are the "low SE" half
        np.testing.assert_array_equal(data.labels["low_se"], [1.0, 0.0, 1.0, 0.0])
        assert data.features[("answer", -1)].shape == (4, D)
        np.testing.assert_allclose(
            data.features[("answer", -1)][1], states(2.0).answer_mean, atol=1e-3
        )
        assert probe_data_from_run(run, prefix="mmlu/val/x/1")[0] == ["mmlu/val/x/1"]
        with pytest.raises(InvalidInputError):
            probe_data_from_run(run, prefix="gsm8k/")


def test_an_edge_only_run_needs_automatic_grades(tmp_path: Path) -> None:
    backend = edge()
    policy = RoutingPolicy.build(backend)
    with ResultStore(tmp_path / "probe.sqlite") as store:
        run = store.run("train", edge_config(backend, policy))
        judged = [EvalItem("mt_bench/1", "mt_bench", ("write a poem",))]
        with pytest.raises(ConfigurationError):
            evaluate_edge(run, judged, backend, policy, progress=False)
        assert backend.calls == []


def _args(store: Path, run: str | None) -> argparse.Namespace:
    return argparse.Namespace(store=store, run=run, prefix="")


def test_train_probe_from_a_store_refuses_what_it_cannot_use(tmp_path: Path) -> None:
    backend = edge()
    policy = RoutingPolicy.build(backend)
    path = tmp_path / "probe.sqlite"
    with ResultStore(path) as store:
        plain = store.run("plain", edge_config(backend, policy))
        evaluate_edge(plain, ITEMS[:2], backend, policy, progress=False)
        made = store.run(
            "states", edge_config(backend, policy, hidden_states=True, edge_sha256="b" * 64)
        )
        evaluate_edge(made, ITEMS[2:], backend, policy, states=True, progress=False)
    with pytest.raises(ConfigurationError, match="--run"):
        _stored_data(_args(path, None), "b" * 64)
    with pytest.raises(ConfigurationError, match="does not exist"):
        _stored_data(_args(tmp_path / "none.sqlite", "states"), "b" * 64)
    with pytest.raises(ConfigurationError, match="no run"):
        _stored_data(_args(path, "other"), "b" * 64)
    with pytest.raises(ConfigurationError, match="without hidden states"):
        _stored_data(_args(path, "plain"), "b" * 64)
    with pytest.raises(ConfigurationError, match="other weights"):
        _stored_data(_args(path, "states"), "c" * 64)
    data = _stored_data(_args(path, "states"), "b" * 64)
    np.testing.assert_array_equal(data.labels["correct"], [1.0, 0.0])


def test_hidden_states_are_stored_by_edge_only_runs_only() -> None:
    from confidence_router.evaluation.commands import run_eval

    args = argparse.Namespace(hidden_states=True, edge_only=False)
    with pytest.raises(ConfigurationError, match="edge-only"):
        run_eval(args)


def test_a_refused_edge_only_run_leaves_no_run_behind(tmp_path: Path) -> None:
    """A run refused for its data must not keep its name (a corrected rerun would then fail
    on a config mismatch)."""
    from confidence_router.evaluation.commands import run_eval

    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "write a poem"}\n')
    store = tmp_path / "probe.sqlite"
    args = argparse.Namespace(
        hidden_states=True, edge_only=True, out=None, reuse_cloud=None,
        data=[str(prompts)], datasets=None, seed=0, store=store,
    )  # fmt: skip
    with pytest.raises(ConfigurationError, match="grades automatically"):
        run_eval(args)
    assert not store.exists()
    with pytest.raises(ConfigurationError, match="--reuse-cloud"):
        run_eval(argparse.Namespace(**{**vars(args), "out": tmp_path / "report"}))


def test_an_unscorable_answer_counts_as_high_se_not_as_a_missing_label(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "probe.sqlite") as store:
        run = store.run("train", {"hidden_states": True})
        confidences = [0.9, None, 0.8, 0.1]  # item 1: an empty answer, nothing to score
        for i, c in enumerate(confidences):
            scores = {} if c is None else {"semantic_entropy": c}
            run.put(f"mmlu/val/x/{i}", "edge", {"text": "A", "scores": scores,
                                                "hidden": encode_states(states(1.0))})  # fmt: skip
            run.put(f"mmlu/val/x/{i}", "grade", {"edge": 1.0})
        _, data = probe_data_from_run(run)
    np.testing.assert_array_equal(data.labels["low_se"], [1.0, 0.0, 1.0, 0.0])


def test_train_probe_refuses_flags_its_data_source_would_ignore(tmp_path: Path) -> None:
    from confidence_router.training.commands import _check_sources

    base = {"store": None, "data": tmp_path / "d.jsonl", "run": None, "prefix": "",
            "layers": [-1], "samples": 0, "equivalence": None, "max_new_tokens": 256}  # fmt: skip
    _check_sources(argparse.Namespace(**base))
    with pytest.raises(ConfigurationError, match="--run and --prefix"):
        _check_sources(argparse.Namespace(**{**base, "run": "train"}))
    stored = {**base, "store": tmp_path / "s.sqlite", "data": None, "run": "train"}
    _check_sources(argparse.Namespace(**stored))
    with pytest.raises(ConfigurationError, match="--samples, --max-new-tokens would be ignored"):
        _check_sources(argparse.Namespace(**{**stored, "samples": 5, "max_new_tokens": 64}))

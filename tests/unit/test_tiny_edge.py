"""The in-process edge's scoring, samples-only and early-exit paths on a tiny random llama."""

from __future__ import annotations

import math

import pytest

from confidence_router import CascadeRouter, Reason
from confidence_router.generation import EARLY_EXIT, GenerationOptions
from confidence_router.messages import normalize_messages
from confidence_router.models.transformers import TransformersModel
from confidence_router.uncertainty import SemanticEntropy

from .helpers import ScriptedBackend, generation
from .sample_helpers import FirstLetter
from .tiny_model import build_tiny_model

QUESTION = normalize_messages("What is 2+2?")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TransformersModel:
    folder = build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))
    return TransformersModel(folder, dtype="float32")


def test_probability_of_matches_the_generated_log_probs(tiny: TransformersModel) -> None:
    assert tiny.capabilities.token_scoring and tiny.capabilities.early_exit
    greedy = tiny.generate(QUESTION, GenerationOptions(max_new_tokens=4)).greedy
    text = tiny.tokenizer.decode(list(greedy.token_ids))
    assert tiny.tokenizer.encode(text, add_special_tokens=False) == list(greedy.token_ids)
    expected = math.exp(sum(greedy.token_logprobs))
    assert tiny.probability_of(QUESTION, text) == pytest.approx(expected, rel=1e-4)
    first = tiny.tokenizer.decode(list(greedy.token_ids[:1]))
    assert tiny.probability_of(QUESTION, first) == pytest.approx(
        math.exp(greedy.token_logprobs[0]), rel=1e-4
    )
    assert 0.0 < tiny.probability_of(QUESTION, "True") < 1.0


def test_samples_only_skips_the_greedy_row(tiny: TransformersModel) -> None:
    opts = GenerationOptions(max_new_tokens=5, num_samples=2, samples_only=True, seed=1)
    gen = tiny.generate(QUESTION, opts)
    assert gen.greedy.text == "" and gen.greedy.num_tokens == 0
    assert len(gen.samples) == 2 and all(s.token_logprobs for s in gen.samples)
    assert gen.usage.output_tokens == sum(s.num_tokens for s in gen.samples)
    again = tiny.generate(QUESTION, opts)
    assert [s.token_ids for s in again.samples] == [s.token_ids for s in gen.samples]
    single = GenerationOptions(max_new_tokens=3, num_samples=1, samples_only=True)
    assert len(tiny.generate(QUESTION, single).samples) == 1


def test_early_exit_stops_the_whole_batch_after_min_tokens(tiny: TransformersModel) -> None:
    opts = GenerationOptions(
        max_new_tokens=12, num_samples=2, seed=0, early_exit_floor=1.0, early_exit_min_tokens=3
    )
    gen = tiny.generate(QUESTION, opts)
    assert (gen.greedy.num_tokens, gen.greedy.finish_reason) == (3, EARLY_EXIT)
    assert len(gen.greedy.token_logprobs) == 3
    assert all(s.num_tokens <= 3 for s in gen.samples)
    off = tiny.generate(QUESTION, opts.model_copy(update={"early_exit_floor": 0.0}))
    assert off.greedy.finish_reason != EARLY_EXIT and off.greedy.num_tokens > 3
    assert off.greedy.token_ids[:3] == gen.greedy.token_ids  # the same greedy prefix


def test_routed_early_exit_on_the_real_backend(tiny: TransformersModel) -> None:
    cloud = ScriptedBackend([generation([], text="cloud")], tools=True)
    router = CascadeRouter(tiny, cloud, early_exit_floor=1.0, early_exit_min_tokens=3)
    out = router.route("What is 2+2?", max_new_tokens=10)
    assert (out.reason, out.route, out.edge_tokens) == (Reason.EARLY_EXIT, "cloud", 3)
    assert out.usage["edge"].output_tokens == 3


def test_routed_staged_se_with_p_true_on_the_real_backend(tiny: TransformersModel) -> None:
    router = CascadeRouter(
        tiny,
        ScriptedBackend([]),
        estimator=SemanticEntropy(FirstLetter(), num_samples=2),
        extra_estimators=["p_true"],
        band=(0.0, 1.0),
        threshold=0.0,
        max_new_tokens=4,
    )
    out = router.route("What is 2+2?")
    assert (out.stage, out.route, out.reason) == ("full", "edge", Reason.CONFIDENT)
    assert set(out.scores) == {"max_sequence_probability", "p_true", "semantic_entropy"}
    assert 0.0 <= out.scores["p_true"] <= 1.0
    assert out.usage["edge"].output_tokens > out.edge_tokens  # greedy + samples


def test_generate_emits_no_deprecation_warnings(tiny: TransformersModel) -> None:
    """Our own calls into transformers use its current keywords (`cache`, not the deprecated
    `past_key_values`): deprecation warnings are errors here."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        warnings.simplefilter("error", FutureWarning)
        for options in (
            GenerationOptions(max_new_tokens=4),
            GenerationOptions(max_new_tokens=4, num_samples=2, seed=0),
            GenerationOptions(max_new_tokens=4, num_samples=2, samples_only=True, seed=0),
        ):
            tiny.generate(QUESTION, options)
        tiny.probability_of(QUESTION, "True")


def test_close_stops_the_async_worker_threads(tmp_path_factory: pytest.TempPathFactory) -> None:
    import asyncio

    model = TransformersModel(build_tiny_model(tmp_path_factory.mktemp("tiny-close")))
    asyncio.run(model.agenerate(QUESTION, GenerationOptions(max_new_tokens=2)))
    assert model._executor is not None
    workers = set(model._executor._threads)
    assert workers and all(t.is_alive() for t in workers)
    model.close()
    assert not any(t.is_alive() for t in workers)
    with model:  # usable again, and closed on exit
        asyncio.run(model.agenerate(QUESTION, GenerationOptions(max_new_tokens=2)))
    assert model._executor is None

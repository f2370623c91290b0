"""Hidden states from the same llama.cpp generation on SmolLM2-135M: their shapes, the greedy
answer unchanged by asking for them, batched sequences each with their own, a probe on them."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest

from confidence_router.errors import CapabilityError
from confidence_router.generation import Answer, GenerationOptions
from confidence_router.messages import normalize_messages
from confidence_router.models.bundled import BUNDLED
from confidence_router.models.llama_cpp import LlamaCppModel
from confidence_router.statistics import Statistic
from confidence_router.uncertainty import RequestStatistics
from confidence_router.uncertainty.probe import Probe, ProbeConfidence

pytestmark = pytest.mark.integration

PROMPTS = [
    normalize_messages(q)
    for q in (
        "What is the capital of France?",
        "Name three primary colors.",
        "Write one sentence about the sea.",
    )
]
N_EMBD = 576  # SmolLM2-135M's hidden size


@pytest.fixture(scope="module")
def smol() -> Iterator[LlamaCppModel]:
    with LlamaCppModel("smollm2-135m-instruct", n_threads=1) as model:
        yield model


def greedy(model: LlamaCppModel, i: int, states: bool, tokens: int = 24) -> Answer:
    options = GenerationOptions(max_new_tokens=tokens, hidden_states=states)
    return model.generate(PROMPTS[i], options).greedy


def test_states_have_the_model_size_and_leave_the_answer_unchanged(smol: LlamaCppModel) -> None:
    assert Statistic.HIDDEN_STATES in smol.capabilities.statistics
    for i in range(len(PROMPTS)):
        plain, with_states = greedy(smol, i, False), greedy(smol, i, True)
        assert plain.hidden is None
        assert with_states.text == plain.text and with_states.token_ids == plain.token_ids
        assert with_states.token_logprobs == plain.token_logprobs
        assert with_states.token_entropies == plain.token_entropies
        h = with_states.hidden
        assert h is not None and h.layer == -1
        assert h.prompt.shape == h.answer_mean.shape == (N_EMBD,)
        assert h.prompt.dtype == np.float32 and np.isfinite(h.answer_mean).all()
        fed = len(plain.token_ids) - (plain.finish_reason == "length")
        assert h.answer_states == fed
    state = smol.prompt_state(PROMPTS[0])  # a prefill alone gives the same prompt state
    assert np.array_equal(state, greedy(smol, 0, True).hidden.prompt)  # type: ignore[union-attr]
    with pytest.raises(CapabilityError):
        smol.generate(PROMPTS[0], GenerationOptions(hidden_states=True, hidden_layer=3))


def test_batched_sequences_get_their_own_states(smol: LlamaCppModel) -> None:
    alone = [greedy(smol, i, True).hidden for i in range(len(PROMPTS))]
    together: dict[int, Answer] = {}

    def run(i: int) -> None:
        together[i] = greedy(smol, i, True)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(PROMPTS))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(smol.scheduler.jobs_per_step) >= 2
    for i, answer in together.items():
        h = answer.hidden
        assert h is not None
        # batching changes llama.cpp's numerics a little: its own prompt state is the nearest
        distances = [float(np.linalg.norm(h.prompt - a.prompt)) for a in alone if a is not None]
        assert int(np.argmin(distances)) == i
        assert distances[i] < 0.1 * float(np.linalg.norm(h.prompt))
    sampled = smol.generate(
        PROMPTS[2], GenerationOptions(max_new_tokens=16, num_samples=3, seed=3, hidden_states=True)
    )
    rows = [sampled.greedy, *sampled.samples]
    assert all(r.hidden is not None for r in rows)
    prompts = {r.hidden.prompt.tobytes() for r in rows}  # type: ignore[union-attr]
    assert len(prompts) == 1  # one prompt evaluation shared by every row
    texts = {r.text for r in rows}
    means = {r.hidden.answer_mean.tobytes() for r in rows}  # type: ignore[union-attr]
    assert len(means) >= len(texts)  # different answers, different means


def test_a_probe_on_the_edge_states(smol: LlamaCppModel) -> None:
    assert smol.model_sha256 == BUNDLED["smollm2-135m-instruct"].sha256
    rng = np.random.default_rng(0)
    probe = Probe(
        rng.normal(size=N_EMBD), 0.0, np.zeros(N_EMBD), np.ones(N_EMBD),
        source="prompt", model_sha256=smol.model_sha256,
    )  # fmt: skip
    estimator = ProbeConfidence(probe).bind(smol)
    generation = smol.generate(PROMPTS[0], GenerationOptions(max_new_tokens=8, hidden_states=True))
    confidence = estimator.confidence(RequestStatistics(PROMPTS[0], generation))
    assert 0.0 <= confidence <= 1.0
    assert estimator.p_cloud(PROMPTS[0]) == pytest.approx(1.0 - confidence)

"""The llama.cpp edge backend on the real bundled models (Qwen2.5-Coder-0.5B, SmolLM2-135M)."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from confidence_router.errors import (
    BackendError,
    DeadlineExceededError,
    ModelLoadError,
    PromptTooLongError,
)
from confidence_router.generation import DEADLINE, EARLY_EXIT, Answer, GenerationOptions
from confidence_router.messages import ChatMessage, normalize_messages
from confidence_router.models.llama_cpp import LlamaCppModel
from confidence_router.statistics import Statistic
from confidence_router.uncertainty.running_confidence import exit_point

QUESTION = normalize_messages("What is the capital of France?")
STORY = normalize_messages("Write a long, imaginative story about a dragon who learns to paint.")
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "The city name"}},
                "required": ["city"],
            },
        },
    }
]


@pytest.fixture(scope="module")
def qwen() -> Iterator[LlamaCppModel]:
    with LlamaCppModel("qwen2.5-coder-0.5b-instruct", n_ctx=4096) as model:
        yield model


@pytest.fixture(scope="module")
def smol() -> Iterator[LlamaCppModel]:
    with LlamaCppModel("smollm2-135m-instruct", n_ctx=2048) as model:
        yield model


def _teacher_forced(
    model: LlamaCppModel, messages: Sequence[ChatMessage], answer: Answer
) -> tuple[np.ndarray, np.ndarray]:
    """Log-probs and full-vocabulary entropies of an answer's tokens from ONE decode of
    prompt + answer, recomputed here in float64 (torch, not the backend's numpy code)."""
    import torch

    prompt = model.encode(messages)
    ids = list(answer.token_ids)
    positions = range(len(prompt) - 1, len(prompt) + len(ids) - 1)
    logits = torch.from_numpy(model.logits(prompt + ids, positions)).double()
    assert logits.shape == (len(ids), model._runtime.n_vocab)
    logp = torch.log_softmax(logits, dim=-1)
    chosen = logp.gather(1, torch.tensor(ids)[:, None]).squeeze(1)
    entropy = -(logp.exp() * logp).sum(-1)
    return chosen.numpy(), entropy.numpy()


def test_answers_an_easy_question_with_statistics(qwen: LlamaCppModel) -> None:
    gen = qwen.generate(QUESTION, GenerationOptions(max_new_tokens=32))
    g = gen.greedy
    assert "Paris" in g.text and g.finish_reason == "stop"
    assert len(g.token_ids) == len(g.token_logprobs) == len(g.token_entropies) > 0
    assert all(lp <= 0 for lp in g.token_logprobs) and all(h >= 0 for h in g.token_entropies)
    assert gen.usage.input_tokens == qwen.count_tokens(QUESTION)
    assert gen.usage.output_tokens == len(g.token_ids)
    assert qwen.detokenize(g.token_ids).strip() == g.text
    assert gen.model == "qwen2.5-coder-0.5b-instruct"


def test_smollm_answers_too(smol: LlamaCppModel) -> None:
    # (SmolLM2's first-token distribution for the France question is flat: "L" -1.85 nats vs
    # "The" -2.09 under llama.cpp's Q4_1 kernels, and it then rambles in French; Germany is sure)
    gen = smol.generate(
        normalize_messages("What is the capital of Germany?"), GenerationOptions(max_new_tokens=32)
    )
    assert "Berlin" in gen.text
    assert not smol.capabilities.tools


def test_capabilities(qwen: LlamaCppModel) -> None:
    caps = qwen.capabilities
    assert caps.tools and caps.early_exit and caps.token_scoring and caps.deadline
    assert caps.context_window == 4096 and caps.statistics == frozenset(Statistic)


def test_logprobs_and_entropies_match_a_teacher_forced_pass(qwen: LlamaCppModel) -> None:
    """Greedy and sampled rows: every recorded log-prob and entropy is the raw, full-vocabulary
    one of that very token (a misaligned step would be off by whole nats)."""
    gen = qwen.generate(STORY, GenerationOptions(max_new_tokens=32, num_samples=2, seed=3))
    for answer in (gen.greedy, *gen.samples):
        assert answer.num_tokens == 32
        logprobs, entropies = _teacher_forced(qwen, STORY, answer)
        # llama.cpp's one-token and many-token matmul kernels round differently: measured mean
        # 0.02-0.04 nats, max 0.13-0.16 over 48 tokens (the same ids, one decode vs step by step)
        for got, want in ((answer.token_logprobs, logprobs), (answer.token_entropies, entropies)):
            diff = np.abs(np.asarray(got) - want)
            assert diff.mean() < 0.05 and np.quantile(diff, 0.9) < 0.1 and diff.max() < 0.3, diff
    # a story has uncertain steps: entropies are informative, not all ~0
    assert max(gen.greedy.token_entropies) > 0.5


def test_statistics_come_from_each_steps_own_logits(
    qwen: LlamaCppModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exactly: each token's log-prob and entropy are the float64 full-vocabulary ones of the
    logits llama.cpp returned at that step (recomputed here with torch), the greedy token their
    argmax."""
    import torch

    from confidence_router.models.llama_cpp.sampling import StepDistribution

    steps: list[np.ndarray] = []
    original = StepDistribution.of

    def capture(logits: np.ndarray) -> StepDistribution:
        steps.append(np.array(logits, copy=True))
        return original(logits)

    monkeypatch.setattr(StepDistribution, "of", staticmethod(capture))
    greedy = qwen.generate(STORY, GenerationOptions(max_new_tokens=20)).greedy
    assert len(steps) == greedy.num_tokens and all(s.shape == (1, 151936) for s in steps)
    logits = torch.from_numpy(np.concatenate(steps)).double()
    logp = torch.log_softmax(logits, dim=-1)
    ids = torch.tensor(greedy.token_ids)
    assert torch.equal(logits.argmax(-1), ids)
    expected = logp.gather(1, ids[:, None]).squeeze(1).numpy()
    entropy = -(logp.exp() * logp).sum(-1).numpy()
    np.testing.assert_allclose(greedy.token_logprobs, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(greedy.token_entropies, entropy, rtol=0, atol=1e-9)


def test_greedy_is_deterministic_and_the_batched_greedy_row_matches(qwen: LlamaCppModel) -> None:
    options = GenerationOptions(max_new_tokens=24)
    alone = qwen.generate(STORY, options)
    again = qwen.generate(STORY, options)
    assert again.greedy.token_ids == alone.greedy.token_ids
    assert again.greedy.token_logprobs == alone.greedy.token_logprobs
    both = qwen.generate(STORY, GenerationOptions(max_new_tokens=24, num_samples=4, seed=0))
    assert both.greedy.token_ids[:8] == alone.greedy.token_ids[:8]


def test_samples_differ_and_a_seed_reproduces_them(qwen: LlamaCppModel) -> None:
    options = GenerationOptions(max_new_tokens=16, num_samples=4, seed=0)
    first = qwen.generate(STORY, options)
    assert len(first.samples) == 4
    assert len({s.token_ids for s in first.samples}) > 1  # temperature 1
    again = qwen.generate(STORY, options)
    assert [s.token_ids for s in again.samples] == [s.token_ids for s in first.samples]
    assert [s.token_logprobs for s in again.samples] == [s.token_logprobs for s in first.samples]
    other = qwen.generate(STORY, options.model_copy(update={"seed": 1}))
    assert [s.token_ids for s in other.samples] != [s.token_ids for s in first.samples]
    assert first.usage.output_tokens == sum(a.num_tokens for a in (first.greedy, *first.samples))


def test_low_temperature_and_top_p_narrow_the_samples(qwen: LlamaCppModel) -> None:
    cold = qwen.generate(
        STORY, GenerationOptions(max_new_tokens=8, num_samples=3, temperature=0.05, seed=2)
    )
    nucleus = qwen.generate(
        STORY, GenerationOptions(max_new_tokens=8, num_samples=3, top_p=1e-6, seed=2)
    )
    for gen in (cold, nucleus):
        assert all(s.token_ids == gen.greedy.token_ids for s in gen.samples)
        # the recorded log-probs stay the raw distribution's, not the sharpened one's
        for sample in gen.samples:
            assert sample.token_logprobs == pytest.approx(gen.greedy.token_logprobs, abs=0.05)


def test_samples_only(qwen: LlamaCppModel) -> None:
    gen = qwen.generate(
        QUESTION, GenerationOptions(max_new_tokens=12, num_samples=3, samples_only=True, seed=1)
    )
    assert gen.greedy.text == "" and gen.greedy.num_tokens == 0
    assert len(gen.samples) == 3 and all(s.num_tokens > 0 for s in gen.samples)
    assert gen.usage.output_tokens == sum(s.num_tokens for s in gen.samples)


def test_early_exit_stops_where_the_running_confidence_falls(qwen: LlamaCppModel) -> None:
    full = qwen.generate(STORY, GenerationOptions(max_new_tokens=48))
    floor = 0.9
    expected = exit_point(full.greedy.token_logprobs, floor, min_tokens=4)
    assert expected is not None and expected < full.greedy.num_tokens  # a story is not that sure
    cut = qwen.generate(
        STORY,
        GenerationOptions(max_new_tokens=48, early_exit_floor=floor, num_samples=2, seed=0),
    )
    assert cut.greedy.finish_reason == EARLY_EXIT
    assert cut.greedy.token_ids == full.greedy.token_ids[:expected]
    assert all(s.num_tokens <= expected for s in cut.samples)  # the samples stop with it
    never = qwen.generate(QUESTION, GenerationOptions(max_new_tokens=32, early_exit_floor=0.01))
    assert never.greedy.finish_reason == "stop" and "Paris" in never.text


def test_deadline_stops_the_generation(qwen: LlamaCppModel) -> None:
    start = time.monotonic()
    gen = qwen.generate(
        STORY, GenerationOptions(max_new_tokens=2000, num_samples=1, deadline=start + 1.0)
    )
    took = time.monotonic() - start
    assert gen.greedy.finish_reason == DEADLINE
    assert gen.samples[0].finish_reason in (DEADLINE, "stop")  # a sample may end on its own
    assert 0 < gen.greedy.num_tokens < 2000
    assert 0.9 < took < 2.5  # stopped at the first step boundary after the deadline
    with pytest.raises(DeadlineExceededError):
        qwen.generate(QUESTION, GenerationOptions(deadline=time.monotonic() - 0.01))


def test_waiting_for_a_busy_model_ends_at_the_deadline() -> None:
    """With one sequence slot taken by a long request, another request cannot start: it fails
    at its deadline instead of waiting for the model."""
    with LlamaCppModel("smollm2-135m-instruct", n_ctx=1024, max_sequences=1) as model:
        busy = threading.Thread(
            target=model.generate, args=(STORY, GenerationOptions(max_new_tokens=600))
        )
        busy.start()
        time.sleep(0.3)
        start = time.monotonic()
        with pytest.raises(DeadlineExceededError):
            model.generate(QUESTION, GenerationOptions(deadline=start + 0.5))
        assert time.monotonic() - start < 1.0
        busy.join()


def test_stop_strings_cut_the_answer(qwen: LlamaCppModel) -> None:
    free = qwen.generate(QUESTION, GenerationOptions(max_new_tokens=24))
    word = free.greedy.text.split()[2]  # "of" in "The capital of France is Paris."
    cut = qwen.generate(QUESTION, GenerationOptions(max_new_tokens=24, stop=(word,)))
    assert word not in cut.greedy.text and free.greedy.text.startswith(cut.greedy.text)
    assert cut.greedy.num_tokens < free.greedy.num_tokens
    assert cut.greedy.finish_reason == "stop"


def test_max_new_tokens_caps_the_answer(qwen: LlamaCppModel) -> None:
    gen = qwen.generate(STORY, GenerationOptions(max_new_tokens=5))
    assert gen.greedy.num_tokens == 5 and gen.greedy.finish_reason == "length"


def test_tool_call(qwen: LlamaCppModel) -> None:
    ask = normalize_messages("What is the weather like in Paris right now?")
    gen = qwen.generate(ask, GenerationOptions(max_new_tokens=64), TOOLS)
    (call,) = gen.tool_calls
    assert call.name == "get_weather" and call.arguments == {"city": "Paris"}
    assert gen.greedy.finish_reason == "tool_calls"
    focus = gen.greedy.focus
    assert len(focus) == gen.greedy.num_tokens and 0 < sum(focus) < len(focus)
    focused = qwen.detokenize([t for t, f in zip(gen.greedy.token_ids, focus, strict=True) if f])
    assert "get_weather" in focused and "Paris" in focused
    # the call and its result, fed back, render (arguments as a dict) and get an answer
    followup = [
        *ask,
        ChatMessage(role="assistant", tool_calls=gen.tool_calls),
        ChatMessage(role="tool", tool_call_id=call.id, content="Sunny, 24 degrees Celsius"),
    ]
    assert '"arguments": {"city": "Paris"}' in qwen.render(followup, TOOLS)
    assert "<tool_response>\nSunny, 24 degrees Celsius\n</tool_response>" in qwen.render(followup)
    assert qwen.generate(followup, GenerationOptions(max_new_tokens=8), TOOLS).greedy.num_tokens


def test_probability_of_is_the_teacher_forced_product(qwen: LlamaCppModel) -> None:
    greedy = qwen.generate(QUESTION, GenerationOptions(max_new_tokens=32)).greedy
    continuation = qwen.detokenize(greedy.token_ids)
    assert qwen._runtime.tokenize(continuation) == list(greedy.token_ids)
    logprobs, _ = _teacher_forced(qwen, QUESTION, greedy)
    p = qwen.probability_of(QUESTION, continuation)
    assert p == pytest.approx(math.exp(float(logprobs.sum())), rel=1e-6)
    assert p == pytest.approx(math.exp(sum(greedy.token_logprobs)), rel=0.05)
    assert qwen.probability_of(QUESTION, " London") < 1e-3 < p


def test_concurrent_requests_are_batched_and_get_their_own_answers(qwen: LlamaCppModel) -> None:
    pairs = [(a, b) for a, b in zip(range(11, 19), range(23, 31), strict=True)]
    prompts = [
        normalize_messages(f"What is {a} + {b}? Reply with the number only.") for a, b in pairs
    ]
    options = GenerationOptions(max_new_tokens=12)
    solo = [qwen.generate(p, options) for p in prompts]
    before = len(qwen.scheduler.jobs_per_step)
    results: dict[int, str] = {}
    barrier = threading.Barrier(len(prompts))

    def ask(i: int) -> None:
        barrier.wait()
        results[i] = qwen.generate(prompts[i], options).greedy.text

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(prompts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for i, (a, b) in enumerate(pairs):
        assert str(a + b) in results[i], (results[i], solo[i].text)
        assert results[i].startswith(solo[i].text[:2])
    steps = list(qwen.scheduler.jobs_per_step)[before:]
    assert max(steps) > 1  # requests shared decode steps


def test_agenerate_runs_requests_together(qwen: LlamaCppModel) -> None:
    async def together() -> list[str]:
        options = GenerationOptions(max_new_tokens=16)
        calls = [qwen.agenerate(QUESTION, options) for _ in range(4)]
        return [g.text for g in await asyncio.gather(*calls)]

    texts = asyncio.run(together())
    assert all("Paris" in t for t in texts)


def test_prompt_too_long(smol: LlamaCppModel) -> None:
    long = normalize_messages("word " * 3000)
    with pytest.raises(PromptTooLongError) as info:
        smol.generate(long)
    assert info.value.window == 2048 and info.value.tokens > 2048
    assert info.value.tokens == smol.count_tokens(long)
    with pytest.raises(PromptTooLongError):
        smol.probability_of(long, "yes")


def test_the_token_cap_is_clamped_to_the_window(smol: LlamaCppModel) -> None:
    prompt = normalize_messages("Tell me a story. " + "word " * 1990)
    n = smol.count_tokens(prompt)
    assert n < 2048
    gen = smol.generate(prompt, GenerationOptions(max_new_tokens=500))
    assert gen.greedy.num_tokens <= 2048 - n


def test_counts(qwen: LlamaCppModel) -> None:
    assert qwen.count_text_tokens("Hello world") == 2
    assert qwen.count_tokens(QUESTION) == len(qwen.encode(QUESTION))


def test_missing_or_invalid_files_are_load_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError):
        LlamaCppModel(tmp_path / "nothing.gguf")
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError):
        LlamaCppModel(bogus)


def test_requantized_copy_is_made_once_and_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONFIDENCE_ROUTER_CACHE", str(tmp_path))
    with LlamaCppModel("smollm2-135m-instruct", n_ctx=512, requantize="q8_0") as model:
        assert model.path.parent == tmp_path and model.path.name.endswith(".q8_0.gguf")
        assert model.model_name == "SmolLM2-135M-Instruct.Q4_1"
        made = model.path.stat().st_mtime_ns
        gen = model.generate(QUESTION, GenerationOptions(max_new_tokens=4))
        assert gen.greedy.num_tokens == 4
    with LlamaCppModel("smollm2-135m-instruct", n_ctx=512, requantize="q8_0") as again:
        assert again.path.stat().st_mtime_ns == made  # reused, not converted again
    assert [p.name for p in tmp_path.glob("*.gguf")] == [again.path.name]


def test_closed_model_refuses_requests() -> None:
    model = LlamaCppModel("smollm2-135m-instruct", n_ctx=512)
    assert model.generate(QUESTION, GenerationOptions(max_new_tokens=4)).greedy.num_tokens == 4
    model.close()
    model.close()  # idempotent
    with pytest.raises(BackendError):
        model.generate(QUESTION)


def test_chat_template_and_tokens_match_transformers(
    qwen: LlamaCppModel, smol: LlamaCppModel
) -> None:
    """The GGUF's template rendered here equals `tokenizer.apply_chat_template`'s text, and
    llama.cpp's tokens equal the Hugging Face tokenizer's, for every kind of turn."""
    from transformers import AutoTokenizer

    conversations = [
        QUESTION,
        normalize_messages(
            [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
        ),
        normalize_messages(
            [
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
                {"role": "assistant", "content": "It is sunny."},
                {"role": "user", "content": "Merci ! Et à Zürich ?"},
            ]
        ),
    ]
    for model in (qwen, smol):
        path = model.path
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        for messages in conversations:
            for tools in (None, TOOLS):
                offered = tools if model.capabilities.tools else None
                turns = [m.to_template() for m in messages]
                text = tokenizer.apply_chat_template(
                    turns, tools=offered, add_generation_prompt=True, tokenize=False
                )
                assert model.render(messages, tools) == text
                ids = tokenizer.apply_chat_template(
                    turns, tools=offered, add_generation_prompt=True
                )
                ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
                assert model.encode(messages, tools) == list(ids)

"""The in-process edge backend on the real bundled SmolLM2 model."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from confidence_router.generation import GenerationOptions
from confidence_router.messages import normalize_messages
from confidence_router.models.transformers import TransformersModel

QUESTION = normalize_messages("What is the capital of France?")


@pytest.fixture(scope="module")
def edge(transformers_edge: TransformersModel) -> TransformersModel:
    """This module tests the transformers backend itself."""
    return transformers_edge


def test_greedy_answer_with_statistics(edge: TransformersModel) -> None:
    gen = edge.generate(QUESTION, GenerationOptions(max_new_tokens=24))
    g = gen.greedy
    assert "Paris" in g.text
    assert len(g.token_ids) == len(g.token_logprobs) == len(g.token_entropies) > 0
    assert all(lp <= 0 for lp in g.token_logprobs)
    assert all(h >= 0 for h in g.token_entropies)
    assert gen.usage.input_tokens == edge.count_tokens(QUESTION)
    assert gen.usage.output_tokens == len(g.token_ids)


def test_logprobs_match_a_teacher_forced_forward_pass(edge: TransformersModel) -> None:
    """Recorded log-probs and entropies are the raw distribution's for those very tokens."""
    gen = edge.generate(QUESTION, GenerationOptions(max_new_tokens=16, num_samples=2, seed=3))
    prompt = edge.encode(QUESTION)
    for answer in (gen.greedy, *gen.samples):
        ids = torch.cat([prompt, torch.tensor([answer.token_ids])], dim=1)
        with torch.inference_mode():
            logits = edge.model(ids).logits[0, prompt.shape[1] - 1 : -1].float()
        logp = torch.log_softmax(logits, -1)
        expected = logp.gather(1, torch.tensor(answer.token_ids)[:, None]).squeeze(1)
        entropy = -(logp.exp() * logp).nan_to_num().sum(-1)
        # bf16 batched decoding vs one forward pass: close, not bit-equal; misaligned steps
        # would differ by whole nats.
        for got, want in ((answer.token_logprobs, expected), (answer.token_entropies, entropy)):
            diff = (torch.tensor(got) - want).abs()
            assert diff.mean() < 0.1 and diff.max() < 0.5, diff


def test_samples_come_from_the_same_call_and_greedy_row_is_greedy(edge: TransformersModel) -> None:
    alone = edge.generate(QUESTION, GenerationOptions(max_new_tokens=12))
    both = edge.generate(QUESTION, GenerationOptions(max_new_tokens=12, num_samples=4, seed=0))
    assert both.greedy.token_ids[:6] == alone.greedy.token_ids[:6]
    assert len(both.samples) == 4
    assert len({s.text for s in both.samples}) > 1  # temperature 1 gives different answers
    assert all(s.token_logprobs and math.isfinite(sum(s.token_logprobs)) for s in both.samples)
    seeded = edge.generate(QUESTION, GenerationOptions(max_new_tokens=12, num_samples=4, seed=0))
    assert [s.text for s in seeded.samples] == [s.text for s in both.samples]


def test_any_local_hf_folder_loads(edge: TransformersModel, tmp_path: Path) -> None:
    """A plain Hugging Face folder (a tiny random llama, the SmolLM2 tokenizer) works too."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(edge.tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
    )
    LlamaForCausalLM(config).save_pretrained(tmp_path)
    edge.tokenizer.save_pretrained(tmp_path)
    tiny = TransformersModel(tmp_path, dtype="float32")
    gen = tiny.generate(QUESTION, GenerationOptions(max_new_tokens=5))
    assert gen.greedy.num_tokens >= 1 and len(gen.greedy.token_logprobs) == gen.greedy.num_tokens
    assert tiny.capabilities.context_window == 512


def test_missing_model_is_a_typed_error(tmp_path: Path) -> None:
    from confidence_router.errors import ModelLoadError

    with pytest.raises(ModelLoadError):
        TransformersModel(tmp_path / "nothing-here")


def test_tool_definitions_reach_a_tool_capable_template(tmp_path: Path) -> None:
    """Qwen2.5-Coder's own tokenizer and chat template (from its bundled GGUF) on a tiny model:
    tool definitions and tool turns are rendered into the prompt."""
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from confidence_router.models.bundled import bundled_model_path

    gguf = bundled_model_path("qwen2.5-coder-0.5b-instruct")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
    )
    Qwen2ForCausalLM(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    tiny = TransformersModel(tmp_path, dtype="float32")
    assert tiny.capabilities.tools
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    conversation = normalize_messages(
        [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "c1",
                        "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ]
    )
    prompt = tiny.tokenizer.decode(tiny.encode(conversation, tools)[0])
    assert "<tools>" in prompt and '"name": "get_weather"' in prompt
    assert "<tool_call>" in prompt and "<tool_response>" in prompt and "sunny" in prompt
    gen = tiny.generate(conversation, GenerationOptions(max_new_tokens=4), tools)
    assert gen.greedy.num_tokens >= 1


def test_stop_sequences_cut_the_answer(edge: TransformersModel) -> None:
    free = edge.generate(QUESTION, GenerationOptions(max_new_tokens=24))
    word = free.greedy.text.split()[2]  # e.g. "of" in "The capital of France is Paris."
    cut = edge.generate(QUESTION, GenerationOptions(max_new_tokens=24, stop=(word,)))
    assert word not in cut.greedy.text and free.greedy.text.startswith(cut.greedy.text)
    assert cut.greedy.num_tokens < free.greedy.num_tokens

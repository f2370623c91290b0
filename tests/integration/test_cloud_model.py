"""The OpenAI-compatible backend against the real local llama.cpp server."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest

from confidence_router import CascadeRouter, OpenAIChatModel
from confidence_router.errors import CloudUnavailableError, ModelLoadError
from confidence_router.generation import GenerationOptions
from confidence_router.messages import normalize_messages
from confidence_router.server import LlamaCppServer, free_port
from tests.tools import WEATHER


def test_answers_with_usage(cloud: OpenAIChatModel) -> None:
    gen = cloud.generate(
        normalize_messages("What is 2 + 2? Answer with the number."),
        GenerationOptions(max_new_tokens=16),
    )
    assert "4" in gen.text
    assert gen.usage.input_tokens > 0 and gen.usage.output_tokens > 0


def test_every_sample_request_counts_its_prompt(cloud: OpenAIChatModel) -> None:
    """Each of the N sample requests re-sends the prompt: usage counts it N + 1 times."""
    question = normalize_messages("Name a colour.")
    alone = cloud.generate(question, GenerationOptions(max_new_tokens=4))
    both = cloud.generate(question, GenerationOptions(max_new_tokens=4, num_samples=2, seed=1))
    assert both.usage.input_tokens == 3 * alone.usage.input_tokens > 0
    only = cloud.generate(
        question, GenerationOptions(max_new_tokens=4, num_samples=2, samples_only=True)
    )
    assert only.usage.input_tokens == 2 * alone.usage.input_tokens


def test_tool_calls_come_back_parsed(cloud: OpenAIChatModel) -> None:
    gen = cloud.generate(
        normalize_messages("What's the weather in Paris?"),
        GenerationOptions(max_new_tokens=64),
        WEATHER,
    )
    assert [c.name for c in gen.tool_calls] == ["get_weather"]
    assert gen.tool_calls[0].arguments.get("city", "").lower().startswith("paris")
    assert gen.greedy.finish_reason == "tool_calls"


def test_tool_results_are_passed_back(cloud: OpenAIChatModel) -> None:
    conversation = normalize_messages(
        [
            {"role": "user", "content": "What's the weather in Paris?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "Sunny, 31 degrees Celsius."},
        ]
    )
    gen = cloud.generate(conversation, GenerationOptions(max_new_tokens=48), WEATHER)
    assert "31" in gen.text and not gen.tool_calls


def test_server_logprobs_serve_as_an_edge(
    cloud_server: LlamaCppServer, cloud: OpenAIChatModel
) -> None:
    edge = OpenAIChatModel(
        cloud_server.model_alias,
        base_url=cloud_server.base_url,
        logprobs=True,
        top_logprobs=3,
        tier="edge",
    )
    router = CascadeRouter(
        edge,
        cloud,
        estimator="mean_token_entropy",
        extra_estimators=["perplexity"],
        threshold=0.0,
        max_new_tokens=8,
    )
    out = router.route("What is the capital of Italy?")
    assert out.route == "edge" and out.confidence is not None and 0 < out.confidence <= 1
    assert set(out.scores) == {"mean_token_entropy", "perplexity"}


def test_refused_connection_is_a_typed_error_after_bounded_retries() -> None:
    dead = OpenAIChatModel(
        "m",
        base_url=f"http://127.0.0.1:{free_port()}/v1",
        max_attempts=3,
        initial_backoff=0.05,
        max_backoff=0.1,
        timeout=5,
    )
    start = time.perf_counter()
    with pytest.raises(CloudUnavailableError, match="3 attempts"):
        dead.generate(normalize_messages("hi"))
    assert time.perf_counter() - start < 10


async def test_async_samples(cloud: OpenAIChatModel) -> None:
    gen = await cloud.agenerate(
        normalize_messages("Name a color."), GenerationOptions(max_new_tokens=8, num_samples=2)
    )
    assert gen.text and len(gen.samples) == 2


def test_server_log_lives_as_long_as_the_server(tmp_path: Path) -> None:
    server = LlamaCppServer("smollm2-135m-instruct", n_ctx=1024)
    with server:
        log = server.log_path
        assert log is not None and log.exists()
    assert server.log_path is None and not log.exists()
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    before = set(Path(tempfile.gettempdir()).glob("llama-server-*.log"))
    with pytest.raises(ModelLoadError, match="exited"):
        LlamaCppServer(broken, n_ctx=1024).start()
    assert set(Path(tempfile.gettempdir()).glob("llama-server-*.log")) == before

"""Concurrent greedy requests share one batched decode on the in-process edge (tiny model)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from confidence_router import CascadeRouter
from confidence_router.generation import GenerationOptions
from confidence_router.messages import normalize_messages
from confidence_router.models.batch_queue import BatchQueue
from confidence_router.models.transformers import TransformersModel, _Request
from confidence_router.routing.no_cloud import NoCloud

from .tiny_model import build_tiny_model

PROMPTS = [f"say {word}" for word in ("a", "hello there", "x y z", "numbers 1 2 3", "ok", "q")]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


def test_batched_answers_equal_the_answers_decoded_alone(folder: Path) -> None:
    alone = TransformersModel(folder, dtype="float32", batching=False)
    batched = TransformersModel(folder, dtype="float32")
    options = GenerationOptions(max_new_tokens=12)
    requests = [alone.encode(normalize_messages(p)) for p in PROMPTS]
    together = batched._decode_batch([_Request(ids, options, None) for ids in requests])
    for prompt, generation in zip(PROMPTS, together, strict=True):
        single = alone.generate(normalize_messages(prompt), options)
        assert generation.text == single.greedy.text
        assert generation.greedy.token_ids == single.greedy.token_ids
        assert generation.greedy.token_logprobs == pytest.approx(
            single.greedy.token_logprobs, abs=1e-4
        )
        assert generation.usage == single.usage


def test_concurrent_routed_requests_are_batched_and_get_their_own_answers(folder: Path) -> None:
    edge = TransformersModel(folder, dtype="float32")
    router = CascadeRouter(edge, NoCloud(), threshold=0.0, max_new_tokens=12)
    expected = [router.route(p).text for p in PROMPTS]
    assert edge._queue is not None and set(edge._queue.batches) == {1}

    async def together() -> list[str]:
        return [r.text for r in await asyncio.gather(*(router.aroute(p) for p in PROMPTS * 3))]

    assert asyncio.run(together()) == expected * 3
    assert max(edge._queue.batches) > 1  # some requests shared a decode


def test_requests_that_cannot_share_a_decode_are_not_batched(folder: Path) -> None:
    edge = TransformersModel(folder, dtype="float32")
    assert not edge._batchable(GenerationOptions(num_samples=2), 10)
    assert not edge._batchable(GenerationOptions(seed=1), 10)
    assert not edge._batchable(GenerationOptions(early_exit_floor=0.5), 10)
    assert not edge._batchable(GenerationOptions(deadline=time.monotonic() + 5), 10)
    assert not edge._batchable(GenerationOptions(max_new_tokens=100), 500)  # window is 512
    assert edge._batchable(GenerationOptions(max_new_tokens=100), 10)


def test_queue_groups_by_key_keeps_order_and_passes_errors() -> None:
    lock = threading.Lock()
    gate = threading.Event()
    seen: list[list[str]] = []

    def run(batch: Sequence[str]) -> list[str]:
        gate.wait(5)
        seen.append(list(batch))
        if "boom" in batch:
            raise RuntimeError("batch failed")
        return [s.upper() for s in batch]

    queue: BatchQueue[str, str] = BatchQueue(run, lock, max_batch=3)
    results: dict[str, object] = {}

    def call(text: str, key: str) -> None:
        try:
            results[text] = queue.submit(text, key)
        except RuntimeError as exc:
            results[text] = exc

    first = threading.Thread(target=call, args=("a", "k1"))
    first.start()
    time.sleep(0.1)  # "a" is being decoded alone; these wait
    waiting = [("b", "k1"), ("c", "k2"), ("d", "k1"), ("e", "k1"), ("f", "k1"), ("boom", "k3")]
    threads = [threading.Thread(target=call, args=item) for item in waiting]
    for thread in threads:
        thread.start()
        time.sleep(0.02)
    gate.set()
    for thread in [first, *threads]:
        thread.join(5)
    assert seen[0] == ["a"]
    assert ["b", "d", "e"] in seen and ["c"] in seen and ["f"] in seen  # by key, at most 3
    assert results["b"] == "B" and results["f"] == "F"
    assert isinstance(results["boom"], RuntimeError)
    assert queue.batches[0] == 1 and sorted(queue.batches) == [1, 1, 1, 1, 3]


def test_the_batch_record_stays_bounded() -> None:
    queue: BatchQueue[int, int] = BatchQueue(
        lambda batch: list(batch), threading.Lock(), max_batch=4, history=8
    )
    for i in range(50):
        assert queue.submit(i, "k") == i
    assert len(queue.batches) == 8 and queue.sizes == {1: 50}

"""The llama.cpp backend's continuous-batching scheduler, on a fake runtime (no model)."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

from confidence_router.errors import BackendError, DeadlineExceededError
from confidence_router.generation import GenerationOptions
from confidence_router.models.llama_cpp.jobs import GenerateJob, LogitsJob
from confidence_router.models.llama_cpp.scheduler import Scheduler

VOCAB = 8
END = 7


class FakeBatch:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.entries: list[tuple[int, int, int, bool]] = []  # token, pos, seq, output

    size = property(lambda self: len(self.entries))
    free = property(lambda self: self.capacity - len(self.entries))
    outputs = property(lambda self: sum(e[3] for e in self.entries))

    def clear(self) -> None:
        self.entries = []

    def add(self, tokens: Any, start: int, seq: int, outputs: Any = ()) -> None:
        assert len(self.entries) + len(tokens) <= self.capacity
        for i, token in enumerate(tokens):
            self.entries.append((token, start + i, seq, i in outputs))


class FakeRuntime:
    """Next token = (position + 1) % 7 with probability ~1 (never the end token unless
    `end_at` says so); records what the scheduler asked of the KV cache."""

    def __init__(self, n_ctx: int = 256, n_seq_max: int = 8, step_s: float = 0.0) -> None:
        self.n_ctx, self.n_seq_max, self.step_s = n_ctx, n_seq_max, step_s
        self.batch = FakeBatch(64)
        self.copies: list[tuple[int, int]] = []
        self.removed: list[int] = []
        self.steps: list[list[tuple[int, int, int, bool]]] = []
        self.fail_next = False
        self.closed = False
        self.end_at: int | None = None

    def decode(self) -> int:
        time.sleep(self.step_s)
        self.steps.append(list(self.batch.entries))
        if self.fail_next:
            self.fail_next = False
            return 1
        return 0

    def logits(self, rows: int) -> np.ndarray:
        out = np.zeros((rows, VOCAB), dtype=np.float32)
        positions = [pos for _, pos, _, output in self.batch.entries if output]
        for row, pos in enumerate(positions):
            nxt = END if self.end_at is not None and pos + 1 >= self.end_at else (pos + 1) % 7
            out[row, nxt] = 30.0
        return out

    def seq_cp(self, source: int, target: int) -> None:
        self.copies.append((source, target))

    def seq_rm(self, seq: int) -> None:
        self.removed.append(seq)

    def clear(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def job(prompt_len: int = 5, **options: Any) -> GenerateJob:
    opts = GenerationOptions(**{"max_new_tokens": 4, **options})
    return GenerateJob(
        list(range(prompt_len)),
        opts,
        max_new=opts.max_new_tokens,
        rng=np.random.default_rng(0),
        is_end=lambda token: token == END,
        piece=lambda token: str(token).encode(),
    )


def test_a_job_prefills_once_shares_its_prompt_and_frees_its_sequences() -> None:
    runtime = FakeRuntime()
    scheduler = Scheduler(runtime, max_sequences=8)  # type: ignore[arg-type]
    rows = scheduler.run(job(num_samples=2, seed=1))
    assert [r.tokens for r in rows] == [(5, 6, 0, 1)] * 3  # greedy and samples: ~1 probability
    assert [r.finish for r in rows] == ["length"] * 3
    prefill = runtime.steps[0]
    assert [e[2] for e in prefill] == [0] * 5 and [e[3] for e in prefill] == [False] * 4 + [True]
    assert runtime.copies == [(0, 1), (0, 2)]  # the prompt's cells, shared after the prefill
    assert all(len(step) == 3 for step in runtime.steps[1:])  # then one token per row
    assert len(runtime.steps) == 4  # 1 prefill + 3 fed tokens (the 4th is never fed)
    assert sorted(runtime.removed) == [0, 1, 2]
    assert scheduler._free == list(range(8)) and scheduler._cells == 0
    scheduler.close()
    assert runtime.closed


def test_end_tokens_and_stop_strings_end_rows() -> None:
    runtime = FakeRuntime()
    runtime.end_at = 7  # positions 5, 6 give tokens 6, then the end token
    scheduler = Scheduler(runtime, max_sequences=8)  # type: ignore[arg-type]
    (row,) = scheduler.run(job(max_new_tokens=10))
    assert row.tokens == (5, 6) and row.finish == "stop"
    runtime.end_at = None
    (row,) = scheduler.run(job(max_new_tokens=10, stop=("60",)))
    assert row.tokens == (5, 6, 0) and row.finish == "stop"
    scheduler.close()


def test_concurrent_jobs_share_steps_within_max_sequences() -> None:
    runtime = FakeRuntime(step_s=0.01)
    scheduler = Scheduler(runtime, max_sequences=3)  # type: ignore[arg-type]
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(scheduler.run(job(max_new_tokens=6))))
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(results) == 6 and all(r[0].tokens == (5, 6, 0, 1, 2, 3) for r in results)
    seqs_per_step = [len({e[2] for e in step}) for step in runtime.steps]
    assert max(seqs_per_step) == 3  # batched, never above max_sequences
    assert max(scheduler.jobs_per_step) == 3
    scheduler.close()


def test_kv_cells_bound_admission() -> None:
    """A job needs its prompt plus (cap - 1) cells per row; two that do not fit together run
    one after the other."""
    runtime = FakeRuntime(n_ctx=40, step_s=0.01)
    scheduler = Scheduler(runtime, max_sequences=8)  # type: ignore[arg-type]
    first, second = job(prompt_len=20, max_new_tokens=5), job(prompt_len=20, max_new_tokens=5)
    assert first.cells == 24
    threads = [threading.Thread(target=scheduler.run, args=(j,)) for j in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert first.result and second.result
    assert max(scheduler.jobs_per_step) == 1
    scheduler.close()


def test_a_job_that_cannot_start_fails_at_its_deadline() -> None:
    runtime = FakeRuntime(step_s=0.02)
    scheduler = Scheduler(runtime, max_sequences=1)  # type: ignore[arg-type]
    busy = threading.Thread(target=scheduler.run, args=(job(max_new_tokens=40),))
    busy.start()
    time.sleep(0.05)
    start = time.monotonic()
    late = job(deadline=start + 0.1)
    with pytest.raises(DeadlineExceededError):
        scheduler.run(late)
    assert time.monotonic() - start < 0.3 and not late.seqs
    busy.join(10)
    with pytest.raises(BackendError, match="too large"):  # callers clamp the cap; a guard
        scheduler.run(job(max_new_tokens=1000))
    scheduler.close()


def test_a_running_job_stops_at_its_deadline() -> None:
    runtime = FakeRuntime(n_ctx=2048, step_s=0.02)
    scheduler = Scheduler(runtime, max_sequences=4)  # type: ignore[arg-type]
    (row,) = scheduler.run(job(max_new_tokens=1000, deadline=time.monotonic() + 0.2))
    assert row.finish == "deadline" and 3 < len(row.tokens) < 20
    scheduler.close()


def test_a_failed_decode_fails_its_jobs_and_the_next_job_runs() -> None:
    runtime = FakeRuntime()
    scheduler = Scheduler(runtime, max_sequences=4)  # type: ignore[arg-type]
    runtime.fail_next = True
    with pytest.raises(BackendError, match="llama_decode returned 1"):
        scheduler.run(job())
    assert scheduler._free == list(range(8)) and scheduler._cells == 0
    assert scheduler.run(job())[0].tokens == (5, 6, 0, 1)
    scheduler.close()


def test_logits_job_returns_the_rows_asked_for() -> None:
    runtime = FakeRuntime()
    scheduler = Scheduler(runtime, max_sequences=4)  # type: ignore[arg-type]
    logits = scheduler.run(LogitsJob(list(range(100)), [10, 70, 99]))  # two prefill chunks
    assert logits.shape == (3, VOCAB)
    assert list(logits.argmax(axis=1)) == [11 % 7, 71 % 7, 100 % 7]
    scheduler.close()


def test_closed_scheduler_fails_waiting_jobs_and_refuses_new_ones() -> None:
    runtime = FakeRuntime(step_s=0.02)
    scheduler = Scheduler(runtime, max_sequences=1)  # type: ignore[arg-type]
    errors: list[BaseException] = []

    def run() -> None:
        try:
            scheduler.run(job(max_new_tokens=500))
        except BackendError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(0.1)
    scheduler.close()
    for thread in threads:
        thread.join(5)
    assert len(errors) == 2 and runtime.closed
    with pytest.raises(BackendError):
        scheduler.run(job())

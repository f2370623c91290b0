"""Hidden states from the same generation, with scripted data: the llama.cpp scheduler's
per-sequence accumulation on a fake runtime, and the transformers states out of `generate`."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
import torch

from confidence_router.errors import ConfigurationError
from confidence_router.generation import Answer, GenerationOptions, HiddenStates
from confidence_router.models.llama_cpp.jobs import StateJob
from confidence_router.models.llama_cpp.scheduler import Scheduler
from confidence_router.models.transformers.states import from_end, with_states

from .test_llama_scheduler import FakeBatch, FakeRuntime, job


class StatesBatch(FakeBatch):
    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self.output_rows: list[int] = []

    def clear(self) -> None:
        super().clear()
        self.output_rows = []

    def add(self, tokens: Any, start: int, seq: int, outputs: Any = ()) -> None:
        self.output_rows += [len(self.entries) + i for i in outputs]
        super().add(tokens, start, seq, outputs)

    def output_all(self) -> None:
        self.entries = [(t, p, s, True) for t, p, s, _ in self.entries]


class StatesRuntime(FakeRuntime):
    """The fake runtime plus hidden states: token i of a batch has the state (seq, pos, 1)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.batch = StatesBatch(64)
        self.embedding = False
        self.embedding_steps: list[bool] = []  # per decode: were states on

    def set_embeddings(self, on: bool) -> None:
        self.embedding = on

    def decode(self) -> int:
        self.embedding_steps.append(self.embedding)
        return super().decode()

    def embeddings(self, rows: int) -> np.ndarray:
        assert self.embedding and rows == len(self.batch.entries)
        return np.array([[s, p, 1.0] for _, p, s, _ in self.batch.entries], dtype=np.float32)


def test_states_come_from_the_same_decode_without_changing_tokens() -> None:
    runtime = StatesRuntime()
    scheduler = Scheduler(runtime, max_sequences=8)  # type: ignore[arg-type]
    (plain,) = scheduler.run(job(max_new_tokens=4))
    assert plain.hidden is None and not any(runtime.embedding_steps)
    plain_steps = len(runtime.steps)
    runtime.steps, runtime.embedding_steps = [], []
    (row,) = scheduler.run(job(max_new_tokens=4, hidden_states=True))
    assert row.tokens == plain.tokens and row.logprobs == plain.logprobs
    # the prompt but its last token without states, then that token alone with them
    assert [len(s) for s in runtime.steps[:2]] == [4, 1]
    assert runtime.embedding_steps == [False, True, True, True, True]
    assert len(runtime.steps) == plain_steps + 1
    h = row.hidden
    assert isinstance(h, HiddenStates) and h.layer == -1
    assert h.prompt.tolist() == [0, 4, 1]  # sequence 0, position 4: the last prompt token
    assert h.answer_states == 3  # 4 tokens, the last never fed (the cap)
    assert h.answer_mean.tolist() == pytest.approx([0, 6, 1])  # positions 5, 6, 7
    assert not runtime.embedding  # switched off after each decode
    scheduler.close()


def test_every_row_and_every_batched_job_gets_its_own_states() -> None:
    runtime = StatesRuntime(step_s=0.01)
    scheduler = Scheduler(runtime, max_sequences=8)  # type: ignore[arg-type]
    out: dict[str, Any] = {}

    def run(name: str, **options: Any) -> None:
        out[name] = scheduler.run(job(**options))

    threads = [
        threading.Thread(target=run, args=("states",), kwargs={"num_samples": 2, "seed": 1,
                                                                "hidden_states": True}),
        threading.Thread(target=run, args=("plain",), kwargs={"prompt_len": 7}),
        threading.Thread(target=run, args=("other",), kwargs={"prompt_len": 3,
                                                               "hidden_states": True}),
    ]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(scheduler.jobs_per_step) >= 2  # they did share decode steps
    assert all(r.hidden is None for r in out["plain"])
    seqs = [r.hidden.prompt[0] for r in out["states"]]
    assert len(set(seqs)) == 1  # the prompt is evaluated once, on the first sequence
    means = [tuple(r.hidden.answer_mean[:1]) for r in out["states"]]
    assert len(set(means)) == 3  # each row's own sequence
    assert all(r.hidden.prompt[1] == 4 for r in out["states"])
    (other,) = out["other"]
    assert other.hidden.prompt[1] == 2 and other.hidden.prompt[0] not in seqs
    assert other.hidden.answer_mean[0] == other.hidden.prompt[0]  # its own sequence
    scheduler.close()


def test_a_prompt_state_job_prefills_and_reads_the_last_token() -> None:
    runtime = StatesRuntime()
    scheduler = Scheduler(runtime, max_sequences=8)  # type: ignore[arg-type]
    state = scheduler.run(StateJob(list(range(6))))
    assert state.tolist() == [0, 5, 1]
    assert runtime.embedding_steps == [False, True] and scheduler._cells == 0
    assert scheduler.run(StateJob([3])).tolist() == [0, 0, 1]  # a one-token prompt
    scheduler.close()


def test_options_and_answers_default_to_no_states() -> None:
    options = GenerationOptions()
    assert options.hidden_states is False and options.hidden_layer == -1
    assert Answer(text="x").hidden is None
    a = HiddenStates(np.ones(2, np.float32), np.zeros(2, np.float32), -1, 2)
    b = HiddenStates(np.ones(2, np.float32), np.zeros(2, np.float32), -1, 2)
    assert a == b and Answer(text="x", hidden=a) == Answer(text="x", hidden=b)
    assert a != HiddenStates(np.ones(2, np.float32), np.ones(2, np.float32), -1, 2)


def steps(rows: int, layers: int, prompt_len: int, new: int) -> tuple[Any, ...]:
    """`generate`'s hidden states: state (row, step, layer) everywhere; step 0 covers the
    prompt (its last token gets `prompt_len`), later steps one token each."""
    out = []
    for step in range(new):
        width = prompt_len if step == 0 else 1
        per_layer = []
        for layer in range(layers):
            t = torch.zeros(rows, width, 3)
            for r in range(rows):
                t[r, :, 0] = r
                t[r, -1, 1] = prompt_len if step == 0 else step
                t[r, :, 2] = layer
            per_layer.append(t)
        out.append(tuple(per_layer))
    return tuple(out)


def test_transformers_states_per_row_and_layer() -> None:
    answers = [Answer(text="a", token_ids=(1, 2, 3, 4)), Answer(text="b", token_ids=(1, 2))]
    got = with_states(answers, steps(2, 4, 5, 4), -1)  # 4 steps: 3 answer tokens evaluated
    first, second = (a.hidden for a in got)
    assert first is not None and second is not None
    assert first.prompt.tolist() == [0, 5, 3] and second.prompt.tolist() == [1, 5, 3]
    assert first.answer_states == 3 and first.answer_mean.tolist() == [0, 2, 3]  # steps 1-3
    assert second.answer_states == 2 and second.answer_mean.tolist() == [1, 1.5, 3]
    assert got[0].text == "a" and got[0].token_ids == answers[0].token_ids
    middle = with_states(answers, steps(2, 4, 5, 4), 1)[0].hidden
    assert middle is not None and middle.layer == -3 and middle.prompt[2] == 1
    empty = with_states([Answer(text="")], steps(1, 4, 5, 1), -1)[0].hidden
    assert empty is not None and empty.answer_states == 0
    assert empty.answer_mean.tolist() == empty.prompt.tolist()  # no answer token: the prompt's


def test_layer_indices_count_from_the_end() -> None:
    assert from_end(-1, 31) == -1 and from_end(30, 31) == -1 and from_end(0, 31) == -31
    with pytest.raises(ConfigurationError):
        from_end(31, 31)
    with pytest.raises(ConfigurationError):
        from_end(-32, 31)

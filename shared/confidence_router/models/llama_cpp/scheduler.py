"""Continuous batching: one thread decodes every admitted job's sequences in one llama_batch per
step, admitting new jobs between steps.

A step feeds each live row its last token (one per sequence), then fills what is left of the
batch with prompt tokens of jobs still prefilling (FIFO, chunked to the batch's capacity). A
generation's prompt is evaluated once, on its first sequence; when its last prompt token is in,
every row takes its first token from those logits and the prompt's KV cells are shared with the
other rows' sequences (`llama_memory_seq_cp`). A finished job's sequences are removed from the
cache (`llama_memory_seq_rm`) and their ids reused. Admission is FIFO: a job waits until enough
sequence ids and KV cells (its prompt plus rows x token cap) are free, and, while other jobs
run, until the rows fit `max_sequences`.

Hidden states (jobs that `wants_states`): a step reads them only when one of its tokens needs
them (a fed token of such a generation, or such a job's last prompt token); llama.cpp then
outputs every token of the batch, logits included, so the rest of such a job's prompt is
prefilled in steps without them and its last prompt token waits for one that reads them. Another
job's prompt chunk in such a step gets logits for all its tokens too (the vocabulary projection
over the chunk, and an output buffer that large: their only cost). Steps without a token that
needs states decode exactly as without them.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from typing import Any

from confidence_router.errors import BackendError, DeadlineExceededError
from confidence_router.models.llama_cpp.jobs import GenerateJob, Job, LogitsJob, StateJob
from confidence_router.models.llama_cpp.runtime import LlamaRuntime

_GRACE_S = 0.5  # after its deadline, how long a caller waits for the step that stops its job


class Scheduler:
    """Owns the runtime's context; callers `run` jobs from any thread."""

    def __init__(self, runtime: LlamaRuntime, max_sequences: int, name: str = "llama.cpp") -> None:
        self.runtime = runtime
        self.max_sequences = max_sequences
        self.name = name
        self._cond = threading.Condition()
        self._pending: deque[Job] = deque()
        self._active: list[Job] = []
        self._free = list(range(runtime.n_seq_max))
        self._cells = 0  # KV cells reserved by active jobs
        self._closed = False
        self._exclusive = False
        self._thread: threading.Thread | None = None
        self._step_lock = threading.Lock()
        # jobs per decode step, and rows (sequences) per step: the last 1024 steps, and counts
        self.jobs_per_step: deque[int] = deque(maxlen=1024)
        self.job_counts: Counter[int] = Counter()
        self.rows_per_step: deque[int] = deque(maxlen=1024)

    # -- callers --

    def run(self, job: Job) -> Any:
        """Queue `job`, wait for it and return its result (or raise its error)."""
        with self._cond:
            if self._closed:
                raise BackendError(f"edge model {self.name!r} is closed", tier="edge")
            self._pending.append(job)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name=f"llama-cpp-{self.name}", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()
        try:
            self._wait(job)
        except BaseException:
            job.cancelled = True  # an interrupted caller: the loop frees its sequences
            raise
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[attr-defined]

    def _wait(self, job: Job) -> None:
        if job.deadline is None:
            job.done.wait()
            return
        if job.done.wait(max(0.0, job.deadline - time.monotonic())):
            return
        with self._cond:
            if job in self._pending:  # never admitted: the model was busy until the deadline
                self._pending.remove(job)
                job.fail(self._late(job))
                return
        if not job.done.wait(_GRACE_S):  # the running step is long (a prompt chunk): give up
            job.cancelled = True
            job.fail(self._late(job))

    def _late(self, job: Job) -> DeadlineExceededError:
        return DeadlineExceededError(
            f"edge model {self.name!r}: the deadline passed before it could answer", tier="edge"
        )

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[LlamaRuntime]:
        """The runtime for direct use (benchmarks, tests): waits until no job runs and admits
        none until the block ends; the KV cache is cleared on both sides."""
        with self._cond:
            while self._exclusive or self._active:
                self._cond.wait()
            self._exclusive = True
        try:
            with self._step_lock:
                self.runtime.clear()
                yield self.runtime
                self.runtime.clear()
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()

    def close(self) -> None:
        """Stop the loop, fail what is queued or running, free the runtime (idempotent). From
        the loop's own thread (a finalizer), the loop does it after its current step."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is None:
            self._shutdown()
        elif thread is not threading.current_thread():
            thread.join()

    def _shutdown(self) -> None:
        closed = BackendError(f"edge model {self.name!r} was closed", tier="edge")
        with self._cond:
            self._closed = True  # also when the loop died of an unexpected error
            for job in [*self._pending, *self._active]:
                job.fail(closed)
            self._pending.clear()
            self._active.clear()
        with self._step_lock:
            self.runtime.close()

    # -- the loop --

    def _loop(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._closed and (
                        self._exclusive or not (self._pending or self._active)
                    ):
                        self._cond.wait()
                    if self._closed:
                        return
                    self._drop_finished(time.monotonic())
                    self._admit()
                    if not self._active:
                        continue
                with self._step_lock:
                    try:
                        self._step()
                    except Exception as exc:  # a failed decode: every running job gets it
                        self._fail_active(exc)
        finally:
            self._shutdown()

    def _admit(self) -> None:
        """Move pending jobs into the running set, FIFO, while they fit (caller holds _cond)."""
        now = time.monotonic()
        while self._pending:
            job = self._pending[0]
            if job.cancelled or (job.deadline is not None and now >= job.deadline):
                self._pending.popleft()
                job.fail(self._late(job))
                continue
            rows_running = sum(len(j.seqs) for j in self._active)
            fits = (
                job.rows_needed <= len(self._free)
                and self._cells + job.cells <= self.runtime.n_ctx
                and (not self._active or rows_running + job.rows_needed <= self.max_sequences)
            )
            if not fits and self._active:
                return  # wait for running jobs to free room
            if not fits:  # it cannot fit even alone (the model's callers prevent this)
                self._pending.popleft()
                job.fail(BackendError(f"a request too large for {self.name!r}", tier="edge"))
                continue
            self._pending.popleft()
            job.seqs = [self._free.pop(0) for _ in range(job.rows_needed)]
            self._cells += job.cells
            if isinstance(job, GenerateJob):
                job.start_rows()
            self._active.append(job)

    def _retire(self, job: Job, error: BaseException | None = None) -> None:
        """Free a job's sequences and reservation, then hand the caller its outcome (the
        result, or `error`); a caller that gave up already has one. Caller holds _cond."""
        for seq in job.seqs:
            self.runtime.seq_rm(seq)
        self._free.extend(job.seqs)
        self._free.sort()
        job.seqs = []
        self._cells -= job.cells
        self._active.remove(job)
        if error is not None:
            job.fail(error)
        elif not job.done.is_set():
            job.complete()
        self._cond.notify_all()

    def _drop_finished(self, now: float) -> None:
        """Retire jobs given up by their caller or past their deadline (caller holds _cond)."""
        for job in list(self._active):
            if job.cancelled or job.done.is_set():
                self._retire(job, self._late(job))
            elif job.deadline is None or now < job.deadline:
                continue
            elif isinstance(job, GenerateJob) and job.started:
                job.hit_deadline()
                self._retire(job)
            else:
                self._retire(job, self._late(job))

    def _fail_active(self, exc: Exception) -> None:
        error = BackendError(f"edge model {self.name!r} failed to decode: {exc}", tier="edge")
        error.__cause__ = exc
        with self._cond:
            for job in list(self._active):
                self._retire(job, error)

    def _step(self) -> None:
        """One llama_decode over every running job, then each job's tokens."""
        runtime = self.runtime
        batch = runtime.batch
        assert batch is not None
        batch.clear()
        decoding: list[tuple[GenerateJob, list[Any]]] = []
        states = self._reads_states()
        for job in self._active:
            if isinstance(job, GenerateJob) and job.started:
                rows = job.feeds()
                for row in rows:
                    batch.add([row.tokens[-1]], row.pos, row.seq, (0,))
                    row.pos += 1
                decoding.append((job, rows))
        prefill: list[tuple[Job, int]] = []  # (job, outputs in this batch)
        for job in self._active:
            if not job.prefilling or job.cancelled or batch.free == 0:
                continue
            start = job.evaluated
            end = len(job.prompt) - int(job.wants_states and not states)
            stop = min(end, start + batch.free)
            if stop <= start:
                continue
            outputs = job.prefill_outputs(start, stop)
            batch.add(job.prompt[start:stop], start, job.seqs[0], outputs)
            job.evaluated = stop
            prefill.append((job, len(outputs)))
        if batch.size == 0:
            self._settle()
            return
        hidden: Any = None
        if states:
            batch.output_all()
            runtime.set_embeddings(True)
            try:
                code = runtime.decode()
                if code == 0:  # copies of the marked outputs' rows, taken before switching off
                    logits = runtime.logits(batch.size)[batch.output_rows]
                    hidden = runtime.embeddings(batch.size)[batch.output_rows]
            finally:
                runtime.set_embeddings(False)
        else:
            code = runtime.decode()
            if code == 0:
                logits = runtime.logits(batch.outputs)
        if code != 0:
            raise RuntimeError(f"llama_decode returned {code}")
        self.jobs_per_step.append(len(decoding) + len(prefill))
        self.job_counts[len(decoding) + len(prefill)] += 1
        self.rows_per_step.append(sum(len(rows) for _, rows in decoding) + len(prefill))
        at = 0
        for job, rows in decoding:
            if rows:
                if job.wants_states and hidden is not None:
                    job.answer_states(hidden[at : at + len(rows)], rows)
                job.next_tokens(logits[at : at + len(rows)], rows)
                at += len(rows)
        for job, count in prefill:
            block = logits[at : at + count]
            if job.wants_states and count and hidden is not None:
                state_rows = hidden[at : at + count]
                if isinstance(job, StateJob):
                    job.collect_states(state_rows)
                elif isinstance(job, GenerateJob):
                    job.prompt_states(state_rows)
            at += count
            if isinstance(job, LogitsJob) and count:
                job.collect(block)
            elif isinstance(job, GenerateJob) and count:
                job.first_tokens(block)
                for row in job.rows[1:]:
                    if row.live:
                        runtime.seq_cp(job.seqs[0], row.seq)
        self._settle()

    def _reads_states(self) -> bool:
        """Whether this step reads hidden states: a running generation that wants them feeds
        tokens, or such a job's last prompt token is the one left to prefill (cancelled or not:
        the decision must match what the step feeds)."""
        for job in self._active:
            if not job.wants_states:
                continue
            if isinstance(job, GenerateJob) and job.started and job.feeds():
                return True
            if job.evaluated == len(job.prompt) - 1:
                return True
        return False

    def _settle(self) -> None:
        """Retire the jobs this step completed; stop those past their deadline."""
        now = time.monotonic()
        with self._cond:
            for job in list(self._active):
                if job.cancelled or job.done.is_set():  # its caller gave up meanwhile
                    self._retire(job, self._late(job))
                elif isinstance(job, LogitsJob) and not job.prefilling:
                    self._retire(job)
                elif isinstance(job, GenerateJob) and job.started:
                    if job.deadline is not None and now >= job.deadline:
                        job.hit_deadline()
                    if job.finished:
                        self._retire(job)

"""Drivers: run a plan's steps, synchronously or on an event loop, streaming or not.

A backend call is run with its deadline (a backend that cannot honour one itself is cut off
here); a failed call is thrown into the plan, which decides what the failure means. A `Compute`
step (scoring that may call a model, a predictor's embedding) runs inline in the sync driver and
in a worker thread in the async one, so `aroute` never blocks the event loop. With `stream`, the
cloud's text is yielded as it arrives; a cloud stream that breaks after sending text is thrown
into the plan as `StreamInterruptedError`. The plan's result comes last.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import AsyncIterator, Generator, Iterator
from typing import Any, TypeVar, cast

from confidence_router.errors import BackendError, DeadlineExceededError, StreamInterruptedError
from confidence_router.generation import Generation, seconds_left
from confidence_router.routing.steps import BackendCall, Compute, RouteChunk, Step

_T = TypeVar("_T")
Plan = Generator[Step, Any, _T]


class CallPool:
    """Runs the calls of backends that cannot honour a deadline themselves, in one bounded pool
    per router (threads are reused; a call cut off at its deadline keeps its worker until the
    backend returns, and at most `workers` such calls run at once)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=self.workers, thread_name_prefix="router-call"
                )
            return self._executor

    def call(self, call: BackendCall) -> Generation:
        """One backend call; a deadline the backend does not honour itself is enforced here."""
        left = seconds_left(call.options.deadline)
        if left is None or call.backend.capabilities.deadline:
            return call.backend.generate(call.messages, call.options, call.tools)
        future = self._pool().submit(call.backend.generate, call.messages, call.options, call.tools)
        try:
            return future.result(timeout=left)
        except concurrent.futures.TimeoutError:
            future.cancel()  # never started: it never will
            raise _late(call) from None

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None


def _late(call: BackendCall) -> DeadlineExceededError:
    return DeadlineExceededError(
        f"{call.backend.model_name!r} did not answer before the deadline", tier=call.tier
    )


async def acall(call: BackendCall) -> Generation:
    """Async `CallPool.call`."""
    left = seconds_left(call.options.deadline)
    pending = call.backend.agenerate(call.messages, call.options, call.tools)
    if left is None or call.backend.capabilities.deadline:
        return await pending
    try:
        return await asyncio.wait_for(pending, timeout=left)
    except TimeoutError:
        raise _late(call) from None


def _interrupted(exc: Exception) -> StreamInterruptedError:
    error = StreamInterruptedError(
        f"the cloud stream broke after part of the answer was sent: {type(exc).__name__}"
    )
    error.__cause__ = exc
    return error


def run(plan: Plan[_T], pool: CallPool, stream: bool = False) -> Iterator[RouteChunk | _T]:
    """Run a plan synchronously (see the module docstring)."""
    try:
        step = next(plan)
        while True:
            sent = False
            try:
                if isinstance(step, Compute):
                    result: Any = step.run()
                elif stream and step.tier == "cloud":
                    result = None
                    for piece in step.backend.stream(step.messages, step.options, step.tools):
                        if piece.generation is not None:
                            result = piece.generation
                        elif piece.text:
                            sent = True
                            yield RouteChunk(text=piece.text)
                    if result is None:
                        raise BackendError("the stream ended without its answer", tier="cloud")
                else:
                    result = pool.call(step)
            except Exception as exc:  # the plan decides what a failure means
                step = plan.throw(_interrupted(exc) if sent else exc)
            else:
                step = plan.send(result)
    except StopIteration as done:
        yield cast(_T, done.value)


async def arun(plan: Plan[_T], stream: bool = False) -> AsyncIterator[RouteChunk | _T]:
    """Run a plan on the event loop; `Compute` steps run in a worker thread."""
    try:
        step = next(plan)
        while True:
            sent = False
            try:
                if isinstance(step, Compute):
                    result: Any = await asyncio.to_thread(step.run)
                elif stream and step.tier == "cloud":
                    result = None
                    async for piece in step.backend.astream(
                        step.messages, step.options, step.tools
                    ):
                        if piece.generation is not None:
                            result = piece.generation
                        elif piece.text:
                            sent = True
                            yield RouteChunk(text=piece.text)
                    if result is None:
                        raise BackendError("the stream ended without its answer", tier="cloud")
                else:
                    result = await acall(step)
            except Exception as exc:  # the plan decides what a failure means
                step = plan.throw(_interrupted(exc) if sent else exc)
            else:
                step = plan.send(result)
    except StopIteration as done:
        yield cast(_T, done.value)


def drive(plan: Plan[_T], pool: CallPool) -> _T:
    """The plan's result, run synchronously."""
    *_, result = run(plan, pool)
    return cast(_T, result)


async def adrive(plan: Plan[_T]) -> _T:
    """The plan's result, run on the event loop."""
    result: Any = None
    async for result in arun(plan):  # noqa: B007 - the last item is the result
        pass
    return cast(_T, result)

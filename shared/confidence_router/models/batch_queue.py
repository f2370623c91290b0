"""Batching concurrent requests for one in-process model: who arrives while it is busy shares
the next decode."""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

R = TypeVar("R")
S = TypeVar("S")


@dataclass(eq=False)
class _Slot(Generic[R, S]):
    request: R
    key: Hashable
    done: bool = False
    value: S | None = None
    error: BaseException | None = None


class BatchQueue(Generic[R, S]):
    """Leader/follower batching around a model lock.

    A request that finds the model free is decoded at once, alone (no added latency). Requests
    that arrive while it is busy wait; when it frees, one of them becomes the leader and decodes
    the oldest waiting request together with every other waiting request of the same `key` (up
    to `max_batch`) in one `run_batch` call. Results go back to their own callers, in order;
    an exception raised by a batch goes to every request in it.
    """

    def __init__(
        self,
        run_batch: Callable[[Sequence[R]], Sequence[S]],
        lock: threading.Lock,
        max_batch: int = 16,
        history: int = 1024,
    ) -> None:
        self._run_batch = run_batch
        self._lock = lock
        self.max_batch = max_batch
        self._cond = threading.Condition()
        self._pending: list[_Slot[R, S]] = []
        self._busy = False
        # sizes of the last `history` batches decoded, and how many batches of each size ever
        # (for tests and benchmarks; both bounded however long the queue lives)
        self.batches: deque[int] = deque(maxlen=history)
        self.sizes: Counter[int] = Counter()

    def submit(self, request: R, key: Hashable) -> S:
        slot: _Slot[R, S] = _Slot(request, key)
        with self._cond:
            self._pending.append(slot)
        while True:
            with self._cond:
                while self._busy and not slot.done:
                    self._cond.wait()
                if slot.done:
                    break
                self._busy = True
                first = self._pending[0]
                batch = [s for s in self._pending if s.key == first.key][: self.max_batch]
                for s in batch:
                    self._pending.remove(s)
            try:
                with self._lock:
                    values = self._run_batch([s.request for s in batch])
                for s, value in zip(batch, values, strict=True):
                    s.value = value
            except BaseException as exc:  # every caller of the batch gets the failure
                for s in batch:
                    s.error = exc
            finally:
                with self._cond:
                    self.batches.append(len(batch))
                    self.sizes[len(batch)] += 1
                    for s in batch:
                        s.done = True
                    self._busy = False
                    self._cond.notify_all()
        if slot.error is not None:
            raise slot.error
        return slot.value  # type: ignore[return-value]

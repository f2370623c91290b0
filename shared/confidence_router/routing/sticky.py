"""Sticky routing: a conversation that escalated stays escalated.

In multi-turn chats and agent loops every turn is otherwise decided afresh, so a conversation can
bounce between models mid-task (losing the provider's prompt cache and one consistent voice).
`StickyRouting` remembers, per router, the conversations whose answer came from past its first
tier, and sends their next turns straight past it (reason `sticky`). A conversation is the
caller's `conversation_id` when given; else it is recognised by its messages: an agent step
shares the messages up to its last user turn with the step before it, and a chat's next turn
starts with this turn's messages and answer. Entries expire after `ttl_s` and the table keeps
the `max_conversations` most recently used (LRU). The table lives in this process: replicas
behind a load balancer each keep their own (route a conversation to one replica, or pass ids).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from confidence_router.errors import ConfigurationError
from confidence_router.messages import ChatMessage, ToolCall


def _digest(messages: Sequence[ChatMessage]) -> str:
    """A hash of what the messages say (tool-call ids left out: clients renumber them)."""
    rows = [[m.role, m.content, [[c.name, c.arguments] for c in m.tool_calls]] for m in messages]
    blob = json.dumps(rows, sort_keys=True, default=str, ensure_ascii=False)
    return "m:" + hashlib.sha256(blob.encode()).hexdigest()


def _through_last_user_turn(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    last = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
    return list(messages[: last + 1])


def lookup_keys(messages: Sequence[ChatMessage], conversation_id: str | None) -> list[str]:
    """The keys a request's conversation may have been remembered under."""
    if conversation_id is not None:
        return ["id:" + conversation_id]
    head = _through_last_user_turn(messages)
    keys = [_digest(head)]  # an agent step: the same head as the step before
    before = head[:-1]
    if any(m.role != "system" for m in before):
        keys.append(_digest(before))  # a chat turn: the previous turn's messages and answer
    return keys


def record_keys(
    messages: Sequence[ChatMessage],
    text: str,
    tool_calls: Sequence[ToolCall],
    conversation_id: str | None,
) -> list[str]:
    """The keys under which the conversation's next requests will look this one up."""
    if conversation_id is not None:
        return ["id:" + conversation_id]
    answer = ChatMessage(role="assistant", content=text, tool_calls=tuple(tool_calls))
    return [_digest(_through_last_user_turn(messages)), _digest([*messages, answer])]


class StickyRouting:
    """`StickyRouting(ttl_s=1800, max_conversations=10_000)`: pass as a router's `sticky=`.
    Thread-safe; `len()` is the number of live entries."""

    def __init__(
        self,
        ttl_s: float = 1800.0,
        max_conversations: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not ttl_s > 0:
            raise ConfigurationError("ttl_s", f"must be > 0, got {ttl_s!r}")
        if max_conversations < 1:
            raise ConfigurationError("max_conversations", f"must be >= 1, got {max_conversations}")
        self.ttl_s = float(ttl_s)
        self.max_conversations = max_conversations
        self._clock = clock
        self._lock = threading.Lock()
        self._until: OrderedDict[str, float] = OrderedDict()

    def fresh(self) -> StickyRouting:
        """An empty table with the same settings (one per tier of a `tiered` router)."""
        return StickyRouting(self.ttl_s, self.max_conversations, self._clock)

    def escalated(self, keys: Sequence[str]) -> bool:
        """Whether one of `keys` escalated within the time to live (a hit refreshes it)."""
        now = self._clock()
        with self._lock:
            for key in keys:
                until = self._until.get(key)
                if until is None:
                    continue
                if until <= now:
                    del self._until[key]
                    continue
                self._until[key] = now + self.ttl_s
                self._until.move_to_end(key)
                return True
        return False

    def remember(self, keys: Sequence[str]) -> None:
        now = self._clock()
        with self._lock:
            for key in keys:
                self._until[key] = now + self.ttl_s
                self._until.move_to_end(key)
            while len(self._until) > self.max_conversations:
                self._until.popitem(last=False)

    def __len__(self) -> int:
        now = self._clock()
        with self._lock:
            return sum(1 for until in self._until.values() if until > now)

    def __repr__(self) -> str:
        return f"StickyRouting(ttl_s={self.ttl_s}, max_conversations={self.max_conversations})"

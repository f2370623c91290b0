"""Chat messages and tool definitions in one framework-free shape (OpenAI's), with validation."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from confidence_router.errors import InvalidInputError

Role = Literal["system", "user", "assistant", "tool"]
ROLES: tuple[str, ...] = ("system", "user", "assistant", "tool")


class ToolCall(BaseModel):
    """One call of a tool: `arguments` is already parsed JSON."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI wire form (`arguments` as a JSON string)."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": json.dumps(self.arguments)},
        }


class ChatMessage(BaseModel):
    """One turn of a conversation.

    `content` is the message's text. `parts` keeps OpenAI content parts as given when they hold
    more than text (an image, audio, a file): they go to a tier that can read them unchanged
    (`has_media`; the router sends such a request to the cloud unless the edge declares
    `Capabilities.multimodal`)."""

    model_config = ConfigDict(frozen=True)

    role: Role
    content: str = ""
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    parts: tuple[dict[str, Any], ...] = ()

    @property
    def has_media(self) -> bool:
        """Whether the message has content beyond text (an image, audio, a file)."""
        return any(part.get("type") != "text" for part in self.parts)

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI chat-completions form of this message (content parts kept)."""
        content: Any = [dict(p) for p in self.parts] if self.parts else self.content
        out: dict[str, Any] = {"role": self.role, "content": content}
        if self.name:
            out["name"] = self.name
        if self.tool_calls:
            out["tool_calls"] = [call.to_openai() for call in self.tool_calls]
        if self.tool_call_id:
            out["tool_call_id"] = self.tool_call_id
        return out

    def to_template(self) -> dict[str, Any]:
        """The form Hugging Face chat templates expect (arguments as a dict)."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.name:
            out["name"] = self.name
        if self.tool_calls:
            out["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in self.tool_calls
            ]
        if self.tool_call_id:
            out["tool_call_id"] = self.tool_call_id
        return out


MessagesInput = str | ChatMessage | Mapping[str, Any] | Sequence[ChatMessage | Mapping[str, Any]]


def _content_parts(raw: list[Any], where: str) -> tuple[str, tuple[dict[str, Any], ...]]:
    """OpenAI content parts: (their text, joined; the parts themselves when any is not text)."""
    parts: list[dict[str, Any]] = []
    for i, part in enumerate(raw):
        if not isinstance(part, Mapping) or not isinstance(part.get("type"), str):
            raise InvalidInputError(f"{where}.content[{i}]: expected a part with a 'type'")
        if part["type"] == "text" and not isinstance(part.get("text"), str):
            raise InvalidInputError(f"{where}.content[{i}]: a text part needs a 'text' string")
        parts.append(dict(part))
    text = "".join(_check_text(p["text"], where) for p in parts if p["type"] == "text")
    media = any(p["type"] != "text" for p in parts)
    return text, tuple(parts) if media else ()


def _check_text(text: Any, where: str) -> str:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInputError(f"{where}: content is not valid UTF-8 ({exc})") from exc
    if text is None:
        return ""
    if isinstance(text, list):  # OpenAI content parts: their text
        return _content_parts(text, where)[0]
    if not isinstance(text, str):
        raise InvalidInputError(f"{where}: content must be a string, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(f"{where}: content is not valid UTF-8 ({exc.reason})") from exc
    return text


def _parse_tool_calls(raw: Any, where: str) -> tuple[ToolCall, ...]:
    calls: list[ToolCall] = []
    for i, item in enumerate(raw or ()):
        if isinstance(item, ToolCall):
            calls.append(item)
            continue
        fn = item.get("function", item)
        args = fn.get("arguments", {})
        if isinstance(args, str):
            try:
                args = json.loads(args) if args.strip() else {}
            except json.JSONDecodeError as exc:
                raise InvalidInputError(f"{where}.tool_calls[{i}]: arguments are not JSON") from exc
        calls.append(
            ToolCall(id=str(item.get("id") or f"call_{i}"), name=fn["name"], arguments=args)
        )
    return tuple(calls)


def to_message(item: ChatMessage | Mapping[str, Any], where: str = "messages[0]") -> ChatMessage:
    """Validate one message given as a `ChatMessage` or an OpenAI-style dict."""
    if isinstance(item, ChatMessage):
        item = item.model_dump()
    if not isinstance(item, Mapping):
        raise InvalidInputError(f"{where}: expected a message dict, got {type(item).__name__}")
    role = item.get("role")
    if role not in ROLES:
        raise InvalidInputError(f"{where}: unknown role {role!r}; allowed: {', '.join(ROLES)}")
    raw = item.get("content")
    parts = tuple(item.get("parts") or ())
    if isinstance(raw, list):
        content, parts = _content_parts(raw, where)
    else:
        content = _check_text(raw, where)
    tool_calls = _parse_tool_calls(item.get("tool_calls"), where)
    media = any(p.get("type") != "text" for p in parts)
    if role in ("user", "system") and not content.strip() and not media:
        raise InvalidInputError(f"{where}: {role} message is empty or whitespace only")
    if role == "assistant" and not content.strip() and not tool_calls:
        raise InvalidInputError(f"{where}: assistant message has neither content nor tool calls")
    return ChatMessage(
        role=role,
        content=content,
        name=item.get("name"),
        tool_calls=tool_calls,
        tool_call_id=item.get("tool_call_id"),
        parts=parts,
    )


def normalize_messages(messages: MessagesInput) -> list[ChatMessage]:
    """Turn a prompt string, one message or a list of messages into validated `ChatMessage`s."""
    if isinstance(messages, (str, bytes)):
        text = _check_text(messages, "prompt")
        if not text.strip():
            raise InvalidInputError("prompt: empty or whitespace only")
        return [ChatMessage(role="user", content=text)]
    if isinstance(messages, (ChatMessage, Mapping)):
        messages = [messages]
    items = list(messages)
    if not items:
        raise InvalidInputError("messages: the conversation is empty")
    out = [to_message(m, f"messages[{i}]") for i, m in enumerate(items)]
    if all(m.role == "system" for m in out):
        raise InvalidInputError("messages: the conversation has no user turn")
    return out


def normalize_tools(tools: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """Validate tool definitions in OpenAI's `{"type": "function", "function": {...}}` form."""
    out: list[dict[str, Any]] = []
    for i, tool in enumerate(tools or ()):
        fn = tool.get("function") if tool.get("type", "function") == "function" else None
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise InvalidInputError(
                f"tools[{i}]: expected {{'type': 'function', 'function': {{'name': ..., "
                "'parameters': {...}}}}"
            )
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        out.append(
            {
                "type": "function",
                "function": {
                    "name": fn["name"],
                    "description": fn.get("description", ""),
                    "parameters": dict(params),
                },
            }
        )
    return out

"""`ChatTemplate` renders the bundled models' own chat templates as transformers does.

The templates are read from the GGUF metadata (a vocabulary-only llama.cpp load, a fraction of a
second); the reference is transformers' `render_jinja_template`, the renderer behind
`apply_chat_template` (tokenizer-free, so the test stays fast). The integration tests compare
with `tokenizer.apply_chat_template` itself, token ids included.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from confidence_router.errors import InvalidInputError
from confidence_router.messages import normalize_messages
from confidence_router.models.chat_template import ChatTemplate

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "e.g. Zürich"}},
                "required": ["city"],
            },
        },
    }
]
CONVERSATIONS: dict[str, list[dict[str, Any]]] = {
    "user": [{"role": "user", "content": "What is the capital of France?"}],
    "system": [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "Capital of Italy?"},
    ],
    "multi-turn": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Say 'naïve café' in JSON: {\"a\": 1}"},
    ],
    "tool turns": [
        {"role": "system", "content": "You can call tools."},
        {"role": "user", "content": "Weather in Paris and Zürich?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "c1", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
                {"id": "c2", "function": {"name": "get_weather", "arguments": {"city": "Zürich"}}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny, 21°C"},
        {"role": "tool", "tool_call_id": "c2", "content": "rain"},
    ],
}


def _gguf_template(name: str) -> tuple[str, str, str]:
    """(chat template, bos text, eos text) of a bundled model, from its GGUF metadata."""
    llama_cpp = pytest.importorskip("llama_cpp")
    from confidence_router.models.bundled import resolve_model_path
    from confidence_router.models.llama_cpp.runtime import _init_backend

    _init_backend(verbose=False)
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    model = llama_cpp.llama_model_load_from_file(str(resolve_model_path(name)).encode(), params)
    try:
        vocab = llama_cpp.llama_model_get_vocab(model)

        def text(token: int) -> str:
            buffer = bytes(64)
            n = llama_cpp.llama_token_to_piece(vocab, token, buffer, 64, 0, True)
            return buffer[:n].decode()

        template = llama_cpp.llama_model_chat_template(model, None).decode()
        return (
            template,
            text(llama_cpp.llama_vocab_bos(vocab)),
            text(llama_cpp.llama_vocab_eos(vocab)),
        )
    finally:
        llama_cpp.llama_model_free(model)


@pytest.fixture(scope="module", params=["qwen2.5-coder-0.5b-instruct", "smollm2-135m-instruct"])
def gguf(request: pytest.FixtureRequest) -> tuple[str, str, str]:
    return _gguf_template(request.param)


@pytest.mark.parametrize("conversation", sorted(CONVERSATIONS))
@pytest.mark.parametrize("with_tools", [False, True])
def test_renders_like_transformers(
    gguf: tuple[str, str, str], conversation: str, with_tools: bool
) -> None:
    from transformers.utils.chat_template_utils import render_jinja_template

    source, bos, eos = gguf
    template = ChatTemplate(source, bos_token=bos, eos_token=eos)
    messages = normalize_messages(CONVERSATIONS[conversation])
    tools = TOOLS if with_tools and template.supports_tools else None
    ours = template.render(messages, tools)
    (theirs,), _ = render_jinja_template(
        conversations=[[m.to_template() for m in messages]],
        tools=tools,
        chat_template=source,
        add_generation_prompt=True,
        bos_token=bos,
        eos_token=eos,
    )
    assert ours == theirs
    assert ours.endswith("<|im_start|>assistant\n")
    if tools:
        assert json.dumps(TOOLS[0], ensure_ascii=False) in ours  # tojson keeps "Zürich"
    without = template.render(messages, add_generation_prompt=False)
    assert not without.endswith("<|im_start|>assistant\n")


def test_tool_support_follows_the_template(gguf: tuple[str, str, str]) -> None:
    source, _, _ = gguf
    assert ChatTemplate(source).supports_tools == ("tools" in source)


def test_tool_call_arguments_are_never_double_encoded(gguf: tuple[str, str, str]) -> None:
    """The OpenAI wire form (arguments as a JSON string) renders as the dict form does."""
    source, _, _ = gguf
    if "tool_call" not in source:
        pytest.skip("this template has no tool-call turns")
    template = ChatTemplate(source)
    as_dict = CONVERSATIONS["tool turns"]
    as_string = json.loads(json.dumps(as_dict))
    for call in as_string[2]["tool_calls"]:
        call["function"]["arguments"] = json.dumps(call["function"]["arguments"])
    rendered = template.render(as_string, TOOLS)
    assert rendered == template.render(as_dict, TOOLS)
    assert '"arguments": {"city": "Paris"}' in rendered
    assert '\\"city\\"' not in rendered


def test_template_helpers_and_errors() -> None:
    template = ChatTemplate(
        "{% for m in messages %}{% if m.role == 'tool' %}{{ raise_exception('no tools here') }}"
        "{% endif %}{% generation %}{{ bos_token }}{{ m.content | tojson(indent=1) }}"
        "{% endgeneration %}{% endfor %}{{ strftime_now('%Y') | length }}",
        bos_token="<s>",
    )
    assert not template.supports_tools
    out = template.render([{"role": "user", "content": "é", "name": None}])
    assert out == '<s>"é"4'
    with pytest.raises(InvalidInputError, match="no tools here"):
        template.render([{"role": "tool", "content": "x"}])
    with pytest.raises(InvalidInputError):
        ChatTemplate("{% for %}")
    with pytest.raises(InvalidInputError):
        template.render([])


def test_the_sandbox_refuses_python_internals() -> None:
    template = ChatTemplate("{{ messages.__class__.__mro__ }}{{ ''.__class__.__subclasses__() }}")
    with pytest.raises(InvalidInputError):
        template.render([{"role": "user", "content": "x"}])

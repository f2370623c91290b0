import math
from types import SimpleNamespace as NS

from confidence_router import CascadeRouter, Reason
from confidence_router.models.openai_stream import StreamAssembler

from .helpers import ScriptedBackend, generation

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]


def chunk(text=None, finish=None, calls=None, usage=None):
    delta = NS(content=text, tool_calls=calls)
    return NS(choices=[NS(delta=delta, finish_reason=finish)], usage=usage)


def test_plain_text_streams_as_it_comes() -> None:
    a = StreamAssembler("m", None, parse_text=True)
    assert [a.feed(chunk(t)) for t in ["Hel", "lo", "!"]] == ["Hel", "lo", "!"]
    a.feed(NS(choices=[], usage=NS(prompt_tokens=5, completion_tokens=3)))
    rest, gen = a.finish()
    assert rest == "" and gen.text == "Hello!" and gen.usage.output_tokens == 3


def test_text_tool_call_is_held_back_and_parsed() -> None:
    a = StreamAssembler("m", TOOLS, parse_text=True)
    pieces = ['```json\n{"name": "get_weather", ', '"arguments": {"city": "Paris"}}\n```']
    assert [a.feed(chunk(p)) for p in pieces] == ["", ""]
    rest, gen = a.finish()
    assert rest == "" and gen.tool_calls[0].arguments == {"city": "Paris"}


def test_prose_with_tools_is_released_once_clearly_prose() -> None:
    a = StreamAssembler("m", TOOLS, parse_text=True)
    assert a.feed(chunk("  ")) == ""
    assert a.feed(chunk("It is")) == "  It is"
    assert a.feed(chunk(" sunny")) == " sunny"
    assert a.finish()[1].tool_calls == ()


def test_native_tool_call_deltas_are_assembled() -> None:
    a = StreamAssembler("m", TOOLS, parse_text=True)
    first = NS(index=0, id="c1", function=NS(name="get_weather", arguments='{"ci'))
    second = NS(index=0, id=None, function=NS(name=None, arguments='ty": "Oslo"}'))
    a.feed(chunk(calls=[first]))
    a.feed(chunk(calls=[second], finish="tool_calls"))
    _, gen = a.finish()
    assert (gen.tool_calls[0].id, gen.tool_calls[0].arguments) == ("c1", {"city": "Oslo"})
    assert gen.greedy.finish_reason == "tool_calls"


def test_tool_names_repeated_in_every_delta_are_not_doubled() -> None:
    # llama.cpp with a named tool_choice repeats the name in each delta
    a = StreamAssembler("m", TOOLS, parse_text=True)
    for piece in ('{"city"', ': "Oslo"}'):
        a.feed(
            chunk(calls=[NS(index=0, id="c1", function=NS(name="get_weather", arguments=piece))])
        )
    split = StreamAssembler("m", TOOLS, parse_text=True)
    for name in ("get_", "weather", None):
        split.feed(chunk(calls=[NS(index=0, id="c2", function=NS(name=name, arguments=""))]))
    assert a.finish()[1].tool_calls[0].name == "get_weather"
    assert split.finish()[1].tool_calls[0].name == "get_weather"


def test_router_stream_ends_with_the_decision() -> None:
    sure = generation([math.log(0.9)] * 2, text="edge says hi")
    unsure = generation([math.log(0.1)] * 2, text="meh")
    edge = ScriptedBackend([sure, unsure])
    cloud = ScriptedBackend([generation([], text="cloud says hi")], tools=True)
    router = CascadeRouter(edge, cloud, threshold=0.5)
    chunks = list(router.stream("q"))
    assert [c.text for c in chunks[:-1]] == ["edge says hi"]
    assert chunks[-1].response is not None and chunks[-1].response.reason is Reason.CONFIDENT
    chunks = list(router.stream("q"))
    assert "".join(c.text for c in chunks) == "cloud says hi"
    assert chunks[-1].response is not None and chunks[-1].response.route == "cloud"

import math

from confidence_router import CascadeRouter, Reason
from confidence_router.generation import Answer, Generation
from confidence_router.messages import ChatMessage, ToolCall
from confidence_router.tools.parsing import focus_mask, tool_call_spans
from confidence_router.tools.validation import tool_call_problem

from .helpers import ScriptedBackend, generation

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "required": ["city"],
                "additionalProperties": False,
                "properties": {
                    "city": {"type": "string"},
                    "unit": {"type": "string", "enum": ["C", "F"]},
                    "days": {"type": "integer"},
                },
            },
        },
    }
]


def call(name: str = "get_weather", **args: object) -> ToolCall:
    return ToolCall(id="c", name=name, arguments=args)


def test_schema_checks() -> None:
    assert tool_call_problem(call(city="Paris"), TOOLS) is None
    assert "unknown tool" in (tool_call_problem(call("rm_rf"), TOOLS) or "")
    assert "missing required" in (tool_call_problem(call(unit="C"), TOOLS) or "")
    assert "should be integer" in (tool_call_problem(call(city="P", days="3"), TOOLS) or "")
    assert "should be integer" in (tool_call_problem(call(city="P", days=True), TOOLS) or "")
    assert "one of" in (tool_call_problem(call(city="P", unit="K"), TOOLS) or "")
    assert "unexpected" in (tool_call_problem(call(city="P", color=1), TOOLS) or "")


def test_focus_covers_name_and_values_only() -> None:
    text = '{"name": "get_weather", "arguments": {"city": "Paris"}}'
    spans = tool_call_spans(text, [call(city="Paris")])
    assert [text[a:b] for a, b in spans] == ["get_weather", "Paris"]
    pieces = ['{"name": "', "get_", "weather", '", "arguments": {"city": "', "Par", "is", '"}}']
    ends = [sum(len(p) for p in pieces[: i + 1]) for i in range(len(pieces))]
    assert focus_mask(ends, spans) == (False, True, True, False, True, True, False)


def tool_generation(
    args: dict[str, object], logprobs: list[float], focus: list[bool]
) -> Generation:
    answer = Answer(
        text="",
        token_ids=tuple(range(len(logprobs))),
        token_logprobs=tuple(logprobs),
        token_entropies=(0.1,) * len(logprobs),
        focus=tuple(focus),
        tool_calls=(ToolCall(id="c", name="get_weather", arguments=args),),
    )
    return Generation(greedy=answer)


def route(edge_out: Generation, threshold: float = 0.5):
    edge = ScriptedBackend([edge_out], tools=True)
    cloud = ScriptedBackend([generation([], text="cloud")], tools=True)
    return CascadeRouter(edge, cloud, threshold=threshold).route("q", tools=TOOLS)


def test_tool_call_scored_on_its_focus_tokens() -> None:
    # scaffolding is certain (log 1 = 0), the city token is a coin flip: focus confidence 0.5
    out = route(
        tool_generation(
            {"city": "Paris"}, [0.0, 0.0, math.log(0.5), 0.0], [False, False, True, False]
        ),
        0.6,
    )
    assert out.route == "cloud" and out.confidence == 0.5
    sure = tool_generation({"city": "Paris"}, [0.0, math.log(0.9)], [False, True])
    kept = route(sure, 0.6)
    assert kept.route == "edge" and kept.tool_calls[0].arguments == {"city": "Paris"}


def test_invalid_edge_tool_call_escalates() -> None:
    out = route(tool_generation({"town": "Paris"}, [0.0], [True]), 0.0)
    assert (out.route, out.reason) == ("cloud", Reason.INVALID_TOOL_CALL)


def test_repeating_an_answered_call_escalates() -> None:
    asked = ChatMessage(role="user", content="Weather in Paris?")
    made = ChatMessage(
        role="assistant",
        content="",
        tool_calls=(ToolCall(id="c1", name="get_weather", arguments={"city": "Paris"}),),
    )
    result = ChatMessage(role="tool", content="18 C", tool_call_id="c1")
    again = tool_generation({"city": "Paris"}, [0.0], [True])
    edge = ScriptedBackend(
        [again, again, tool_generation({"city": "Rome"}, [0.0], [True])], tools=True
    )
    cloud = ScriptedBackend([generation([], text="It is 18 C.")], tools=True)
    router = CascadeRouter(edge, cloud, threshold=0.5)
    out = router.route([asked, made, result], tools=TOOLS)
    assert (out.route, out.reason, out.text) == ("cloud", Reason.REPEATED_TOOL_CALL, "It is 18 C.")
    # the same call before it has a result, or another call after it, is not a repeat
    assert router.route([asked, made], tools=TOOLS).route == "edge"
    assert router.route([asked, made, result], tools=TOOLS).route == "edge"  # Rome


def test_a_tool_call_the_parser_cannot_read_escalates() -> None:
    # Qwen2.5-Coder-0.5B's third step of the two-step agent (greedy): a run of calls cut off
    # by max_new_tokens, so nothing parses; kept as a confident text answer (0.97) it was the
    # agent's final answer. An attempt at a call that is not one is an invalid call.
    cut = (
        '{"name": "get_weather", "arguments": {"city": "Paris"}}\n'
        '{"name": "get_weather", "arguments": {"city": "Pa'
    )
    for text in (cut, '<tool_call>\n{"name": "get_weather", "arguments": {"ci', f"```json\n{cut}"):
        out = route(generation([0.0] * 4, text=text), 0.0)
        assert (out.route, out.reason) == ("cloud", Reason.INVALID_TOOL_CALL), text
    # prose, JSON that is not a call of an offered tool, or no tools offered: scored as text
    for text in ('The weather tool says: {"city": "Paris"}', '{"name": "other", "x": 1'):
        assert route(generation([0.0] * 4, text=text), 0.5).route == "edge"
    edge = ScriptedBackend([generation([0.0] * 4, text=cut)], tools=True)
    cloud = ScriptedBackend([generation([], text="cloud")], tools=True)
    assert CascadeRouter(edge, cloud, threshold=0.5).route("q").route == "edge"

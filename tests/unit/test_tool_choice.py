import pytest

from confidence_router import CascadeRouter, Reason
from confidence_router.errors import InvalidInputError
from confidence_router.tools.choice import normalize_tool_choice, openai_tool_choice

from .helpers import ScriptedBackend, generation
from .test_tool_policy import TOOLS, tool_generation

OTHER = {"type": "function", "function": {"name": "get_time", "parameters": {}}}


def test_forms_of_tool_choice() -> None:
    both = [*TOOLS, OTHER]
    assert normalize_tool_choice(None, both) == (both, None)
    assert normalize_tool_choice("auto", both) == (both, None)
    assert normalize_tool_choice("none", both) == ([], None)
    for required in ("required", "any", True):
        assert normalize_tool_choice(required, both) == (both, "required")
    assert normalize_tool_choice("any", TOOLS) == (TOOLS, "get_weather")  # the only tool
    named = ([OTHER], "get_time")
    assert normalize_tool_choice("get_time", both) == named
    assert normalize_tool_choice({"type": "function", "function": {"name": "get_time"}}, both) == (
        named
    )
    assert normalize_tool_choice({"name": "get_time"}, both) == named
    assert openai_tool_choice(None) is None and openai_tool_choice("required") == "required"
    assert openai_tool_choice("get_time") == {"type": "function", "function": {"name": "get_time"}}


def test_bad_tool_choice_is_typed() -> None:
    with pytest.raises(InvalidInputError, match="not offered"):
        normalize_tool_choice("rm_rf", TOOLS)
    with pytest.raises(InvalidInputError, match="needs tools"):
        normalize_tool_choice("required", [])
    with pytest.raises(InvalidInputError, match="tool name"):
        normalize_tool_choice({"function": {}}, TOOLS)


def test_required_tool_call_answered_in_text_escalates() -> None:
    edge = ScriptedBackend([generation([0.0], text="It is sunny.")], tools=True)
    cloud = ScriptedBackend([generation([], text="cloud")], tools=True)
    router = CascadeRouter(edge, cloud, threshold=0.0)
    out = router.route("weather?", tools=[*TOOLS, OTHER], tool_choice="get_weather")
    assert (out.route, out.reason) == ("cloud", Reason.NO_TOOL_CALL)
    for backend in (edge, cloud):  # both tiers saw only the chosen tool and the choice
        _, options, tools = backend.calls[0]
        assert options.tool_choice == "get_weather"
        assert [t["function"]["name"] for t in tools] == ["get_weather"]


def test_required_tool_call_made_at_the_edge_stays() -> None:
    edge = ScriptedBackend([tool_generation({"city": "Paris"}, [0.0], [True])], tools=True)
    cloud = ScriptedBackend([], tools=True)
    out = CascadeRouter(edge, cloud, threshold=0.5).route(
        "weather?", tools=TOOLS, tool_choice="required"
    )
    assert out.route == "edge" and out.tool_calls[0].name == "get_weather"


def test_tool_choice_none_withholds_tools() -> None:
    edge = ScriptedBackend([generation([0.0], text="hi")], tools=False)
    router = CascadeRouter(edge, ScriptedBackend([]), threshold=0.5)
    out = router.route("hi", tools=TOOLS, tool_choice="none")
    assert out.route == "edge" and not edge.calls[0][2]

import pytest

from confidence_router.errors import InvalidInputError
from confidence_router.messages import ChatMessage, normalize_messages, normalize_tools


def test_string_becomes_user_message() -> None:
    assert normalize_messages("hi") == [ChatMessage(role="user", content="hi")]


@pytest.mark.parametrize("bad", ["", "   \n\t", [], [{"role": "user", "content": "  "}]])
def test_empty_input_is_rejected(bad: object) -> None:
    with pytest.raises(InvalidInputError):
        normalize_messages(bad)  # type: ignore[arg-type]


def test_unknown_role_names_the_allowed_ones() -> None:
    with pytest.raises(InvalidInputError, match=r"unknown role 'wizard'.*system, user, assistant"):
        normalize_messages([{"role": "wizard", "content": "x"}])


def test_invalid_utf8() -> None:
    with pytest.raises(InvalidInputError, match="UTF-8"):
        normalize_messages([{"role": "user", "content": b"\xff\xfe bad"}])
    with pytest.raises(InvalidInputError, match="UTF-8"):
        normalize_messages("lone surrogate \udc80")


def test_only_system_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="no user turn"):
        normalize_messages([{"role": "system", "content": "be nice"}])


def test_tool_turns_round_trip() -> None:
    msgs = normalize_messages(
        [
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "w", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "content": "sunny", "tool_call_id": "c1"},
        ]
    )
    assert msgs[1].tool_calls[0].arguments == {"city": "Paris"}
    wire = msgs[1].to_openai()
    assert wire["tool_calls"][0]["function"]["arguments"] == '{"city": "Paris"}'
    assert msgs[1].to_template()["tool_calls"][0]["function"]["arguments"] == {"city": "Paris"}
    assert msgs[2].to_openai()["tool_call_id"] == "c1"


def test_bad_tool_arguments() -> None:
    with pytest.raises(InvalidInputError, match="arguments are not JSON"):
        normalize_messages(
            [
                {"role": "user", "content": "x"},
                {
                    "role": "assistant",
                    "tool_calls": [{"function": {"name": "w", "arguments": "{oops"}}],
                },
            ]
        )


def test_tools_validated() -> None:
    good = normalize_tools([{"type": "function", "function": {"name": "w"}}])
    assert good[0]["function"]["parameters"] == {"type": "object", "properties": {}}
    with pytest.raises(InvalidInputError, match=r"tools\[0\]"):
        normalize_tools([{"type": "function", "function": {"description": "no name"}}])

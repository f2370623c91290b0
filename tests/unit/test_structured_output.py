"""`response_format`: what the edge is told, what fits, and what the cloud is sent."""

from __future__ import annotations

import pytest

from confidence_router.errors import InvalidInputError
from confidence_router.generation import GenerationOptions
from confidence_router.messages import ChatMessage
from confidence_router.models.openai import OpenAIChatModel
from confidence_router.routing.structured_output import (
    check_response_format,
    output_problem,
    with_instruction,
)

PLACE = {
    "type": "json_schema",
    "json_schema": {
        "name": "place",
        "schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "people": {"type": "integer"}},
            "required": ["city"],
        },
    },
}


def test_formats_are_checked_and_text_is_no_constraint() -> None:
    assert check_response_format({"type": "text"}) is None
    assert check_response_format({"type": "json_object"}) == {"type": "json_object"}
    assert check_response_format(PLACE) == PLACE
    with pytest.raises(InvalidInputError, match="response_format"):
        check_response_format({"type": "json_schema", "json_schema": {"name": "x"}})


def test_answers_are_judged_against_the_schema() -> None:
    assert output_problem('{"city": "Paris", "people": 2}', PLACE) is None
    assert output_problem('```json\n{"city": "Paris"}\n```', PLACE) is None
    assert output_problem("Paris, with 2 people", PLACE) == "the answer is not a JSON object"
    assert output_problem('{"people": 2}', PLACE) is not None  # a required key is missing
    assert output_problem('{"city": "Paris", "people": "two"}', PLACE) is not None
    assert output_problem("[1, 2]", {"type": "json_object"}) is not None


def test_the_edge_instruction_follows_the_system_messages() -> None:
    msgs = [ChatMessage(role="system", content="Be brief."), ChatMessage(role="user", content="q")]
    told = with_instruction(msgs, PLACE)
    assert [m.role for m in told] == ["system", "system", "user"]
    assert '"required": ["city"]' in str(told[1].content)


def test_the_openai_backend_sends_response_format_and_says_it_enforces_it() -> None:
    model = OpenAIChatModel("m", base_url="http://127.0.0.1:9/v1", tier="cloud")
    assert model.capabilities.structured_output
    options = GenerationOptions(max_new_tokens=8, response_format=PLACE)
    body = model._request([ChatMessage(role="user", content="q")], options, None, sample=False)
    assert body["response_format"] == PLACE
    plain = model._request(
        [ChatMessage(role="user", content="q")],
        GenerationOptions(max_new_tokens=8),
        None,
        sample=False,
    )
    assert "response_format" not in plain

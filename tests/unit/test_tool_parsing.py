from confidence_router.tools.parsing import parse_tool_calls

NAMES = {"get_weather"}


def test_hermes_blocks() -> None:
    text = (
        'Sure.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    )
    content, calls = parse_tool_calls(text, NAMES)
    assert content == "Sure."
    assert [(c.name, c.arguments) for c in calls] == [("get_weather", {"city": "Paris"})]


def test_fenced_json_with_known_name() -> None:
    text = '```json\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n```'
    content, calls = parse_tool_calls(text, NAMES)
    assert content == "" and calls[0].arguments == {"city": "Oslo"}


def test_unknown_name_or_prose_stays_content() -> None:
    for text in [
        '{"name": "delete_all", "arguments": {}}',
        "It is sunny in Paris.",
        '<tool_call>{"name": "get_weather", "arguments": "not json"}</tool_call>',
    ]:
        content, calls = parse_tool_calls(text, NAMES)
        assert calls == () and content == text


def test_bare_json_needs_offered_tools() -> None:
    _, calls = parse_tool_calls('{"name": "get_weather", "arguments": {}}', None)
    assert calls == ()


def test_prose_around_one_fenced_call_keeps_the_prose() -> None:
    text = 'I will call it:\n```json\n{"name": "get_weather", "arguments": {}}\n```\nDone.'
    content, calls = parse_tool_calls(text, NAMES)
    assert [c.name for c in calls] == ["get_weather"]
    assert content == "I will call it:\n\nDone."


def test_of_two_fenced_calls_only_the_first_counts() -> None:
    block = '```json\n{"name": "get_weather", "arguments": {}}\n```'
    content, calls = parse_tool_calls(f"a {block} b {block}", NAMES)
    assert [c.name for c in calls] == ["get_weather"] and content == "a"


def test_a_whole_tool_loop_in_prose_gives_only_its_first_call() -> None:
    # Qwen2.5-Coder-1.5B's answer to a two-step question, verbatim: the second call is built on
    # a made-up result (401) and the final number is made up too.
    text = (
        '```json\n{\n  "name": "multiply",\n  "arguments": {\n    "a": 17,\n    "b": 23\n  }\n}\n'
        '```\n\n```json\n{\n  "name": "add",\n  "arguments": {\n    "a": 401,\n    "b": 5\n  }\n}'
        "\n```\n\nThe final number is `406`."
    )
    content, calls = parse_tool_calls(text, {"multiply", "add"})
    assert [(c.name, c.arguments) for c in calls] == [("multiply", {"a": 17, "b": 23})]
    assert content == ""
    # fenced blocks that are not calls of offered tools stay content
    assert parse_tool_calls(text, {"divide"}) == (text, ())


def test_several_bare_calls_one_after_another_are_parallel_calls() -> None:
    # Qwen2.5-Coder-0.5B's second step of the two-step agent, verbatim (greedy, llama.cpp): it
    # writes its calls as JSON lines without <tool_call> tags. Read as text, the raw JSON was
    # kept at the edge as the agent's final answer; as calls, the repeated first call escalates.
    text = (
        '{"name": "multiply", "arguments": {"a": 17, "b": 23}}\n'
        '{"name": "add", "arguments": {"a": 391, "b": 5}}'
    )
    content, calls = parse_tool_calls(text, {"multiply", "add"})
    assert content == ""
    assert [(c.name, c.arguments) for c in calls] == [
        ("multiply", {"a": 17, "b": 23}),
        ("add", {"a": 391, "b": 5}),
    ]
    # an array is the same; anything else between or after the objects keeps it all content
    assert len(parse_tool_calls(f"[{text.replace(chr(10), ', ')}]", {"multiply", "add"})[1]) == 2
    for other in (text + "\nThe answer is 396.", text.replace("\n", "\nthen\n")):
        assert parse_tool_calls(other, {"multiply", "add"}) == (other, ())
    # one unknown name keeps it all content
    assert parse_tool_calls(text, {"multiply"}) == (text, ())

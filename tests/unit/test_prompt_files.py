"""Prompt files: text lines, JSONL rows and their prompts, with errors that name file and line;
the CLI's prompt reader and the probe's row reader both read through them."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from confidence_router.cli import load_prompts
from confidence_router.errors import InvalidInputError
from confidence_router.prompt_files import jsonl_rows, prompt_of, text_lines
from confidence_router.training.probe_data import read_probe_rows


def test_text_lines_skip_blanks_and_read_gzip(tmp_path: Path) -> None:
    plain = tmp_path / "p.txt"
    plain.write_text("first\n\n  second  \n")
    zipped = tmp_path / "p.txt.gz"
    with gzip.open(zipped, "wt", encoding="utf-8") as fh:
        fh.write("first\n\n  second  \n")
    expected = [(f"{plain}:1", "first"), (f"{plain}:3", "second")]
    assert list(text_lines(plain)) == expected
    assert [t for _, t in text_lines(zipped)] == ["first", "second"]
    with pytest.raises(InvalidInputError, match="cannot read"):
        list(text_lines(tmp_path / "missing.txt"))


def test_jsonl_rows_and_prompts(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(
        '{"question": "q1", "label": 1}\n'
        '{"messages": [{"role": "user", "content": "m"}], "prompt": "ignored"}\n'
        '{"prompt": "p3"}\n'
    )
    rows = list(jsonl_rows(path))
    assert [prompt_of(row, where) for where, row in rows] == [
        "q1",
        [{"role": "user", "content": "m"}],
        "p3",
    ]
    assert load_prompts(path) == [p for p in (prompt_of(r, w) for w, r in rows)]
    probe_rows = read_probe_rows(path)
    assert [r.label for r in probe_rows] == [1.0, None, None]
    assert probe_rows[1].messages[0].content == "m"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json\n", r"p.jsonl:1: not JSON"),
        ('{"q": 1}\n', r"p.jsonl:1: needs 'messages', 'prompt' or 'question'"),
        ('{"prompt": ""}\n', r"p.jsonl:1: needs"),
        ("[1, 2]\n", r"p.jsonl:1: a row is a JSON object"),
        ('{"prompt": "x"}\n{"prompt": "y", "label": 2}\n', r"p.jsonl:2: a label is 0 or 1"),
    ],
)
def test_bad_rows_name_their_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(text)
    with pytest.raises(InvalidInputError, match=message):
        read_probe_rows(path)

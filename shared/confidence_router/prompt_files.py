"""Reading prompts from files: JSONL rows (optionally gzipped), each with its prompt as
`messages`, `prompt` or `question`; errors name the file and line."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from confidence_router.errors import InvalidInputError

PROMPT_KEYS = ("messages", "prompt", "question")


def text_lines(path: str | os.PathLike[str]) -> Iterator[tuple[str, str]]:
    """(`file:line`, text) of every non-blank line of a text file (gzipped when `.gz`)."""
    source = Path(path)
    opener: Any = gzip.open if source.suffix == ".gz" else open
    try:
        fh = opener(source, "rt", encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"{source}: cannot read it ({exc})") from exc
    with fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                yield f"{source}:{number}", line.strip()


def jsonl_rows(path: str | os.PathLike[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(`file:line`, row) of every JSON object of a JSONL file."""
    for where, line in text_lines(path):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{where}: not JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise InvalidInputError(f"{where}: a row is a JSON object")
        yield where, row


def prompt_of(row: dict[str, Any], where: str) -> Any:
    """A row's prompt: its `messages`, else `prompt`, else `question`."""
    for key in PROMPT_KEYS:
        if row.get(key):
            return row[key]
    raise InvalidInputError(f"{where}: needs 'messages', 'prompt' or 'question'")

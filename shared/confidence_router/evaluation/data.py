"""Evaluation items: GSM8K, MMLU and MT-Bench from the data kit's layout, or a user's own file.

The folder is the `root` argument, else `$CONFIDENCE_ROUTER_DATASETS`, else the team kit
`../shared/datasets` beside the checkout when present. Files are read gzip-compressed
(`*.jsonl.gz`, `*.csv.gz`) as the kit ships them, or plain. Samples are drawn with a fixed
seed, so an item id (`mmlu/test/<subject>/<row>`, `gsm8k/test/<line>`, `mt_bench/<id>`)
names the same question on every machine.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confidence_router.errors import ConfigurationError, InvalidInputError
from confidence_router.uncertainty.equivalence.answer import extract_choice, extract_number

ENV = "CONFIDENCE_ROUTER_DATASETS"
MMLU_PROMPT = (
    "{question}\n\n{options}\n\nReply with only the letter (A, B, C or D) of the correct "
    "option, nothing else."
)
GSM8K_PROMPT = (
    "{question}\n\nSolve it step by step, then give the final answer as a number on the last "
    'line, in the form "#### <number>".'
)
MMLU_TOKENS = 8  # the letter only: a few tokens
GSM8K_TOKENS = 256


@dataclass(frozen=True)
class EvalItem:
    """One question: `turns` are the user turns (MT-Bench has two), `reference` the gold
    answer (a number, a letter, a reference text) when there is one."""

    id: str
    dataset: str
    turns: tuple[str, ...]
    reference: str | None = None
    max_new_tokens: int | None = None
    category: str | None = None
    references: tuple[str, ...] = field(default=())

    @property
    def prompt(self) -> str:
        return self.turns[0]


def datasets_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: `root`, else $CONFIDENCE_ROUTER_DATASETS, else the kit beside the
    checkout (../shared/datasets)."""
    candidates: list[Path] = []
    if root is not None:
        candidates.append(Path(root))
    elif os.environ.get(ENV):
        candidates.append(Path(os.environ[ENV]))
    else:
        here = Path(__file__).resolve()
        candidates += [
            here.parents[4] / "shared" / "datasets",
            Path.cwd().parent / "shared" / "datasets",
        ]
    for path in candidates:
        if path.is_dir():
            return path
    raise ConfigurationError(
        "datasets", f"no data folder at {', '.join(map(str, candidates))}: pass one or set ${ENV}"
    )


def _open(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _find(folder: Path, name: str) -> Path:
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.exists():
            return candidate
    raise ConfigurationError("datasets", f"{folder / name}(.gz) not found")


def _sample(items: list[EvalItem], n: int | None, seed: int) -> list[EvalItem]:
    if n is None:
        return items
    if n < 1:
        raise ConfigurationError("n", f"must be >= 1, got {n}")
    shuffled = list(items)
    random.Random(seed).shuffle(shuffled)
    return shuffled[:n]


def load_mmlu(
    split: str = "test",
    n: int | None = None,
    *,
    seed: int = 0,
    subjects: Sequence[str] | None = None,
    root: str | os.PathLike[str] | None = None,
    max_new_tokens: int = MMLU_TOKENS,
) -> list[EvalItem]:
    """MMLU (`dev`, `val` or `test`): one file per subject, rows question,A,B,C,D,answer.
    Asked for the letter only. `n` items drawn with `seed` from all (or `subjects`)."""
    if split not in ("dev", "val", "test"):
        raise ConfigurationError("split", f"must be dev, val or test, got {split!r}")
    folder = datasets_root(root) / "mmlu" / split
    items: list[EvalItem] = []
    for path in sorted(folder.glob(f"*_{split}.csv*")):
        subject = path.name.split(f"_{split}.csv")[0]
        if subjects is not None and subject not in subjects:
            continue
        with _open(path) as f:
            for row_no, row in enumerate(csv.reader(f)):
                question, *choices, answer = row
                options = "\n".join(f"{L}. {c}" for L, c in zip("ABCD", choices, strict=True))
                prompt = MMLU_PROMPT.format(question=question, options=options)
                items.append(
                    EvalItem(
                        f"mmlu/{split}/{subject}/{row_no}",
                        "mmlu",
                        (prompt,),
                        answer.strip(),
                        max_new_tokens,
                        subject,
                    )
                )
    if not items:
        raise ConfigurationError("datasets", f"no MMLU {split} files in {folder}")
    return _sample(items, n, seed)


def load_gsm8k(
    split: str = "test",
    n: int | None = None,
    *,
    seed: int = 0,
    root: str | os.PathLike[str] | None = None,
    max_new_tokens: int = GSM8K_TOKENS,
) -> list[EvalItem]:
    """GSM8K (`train` or `test`); the reference is the number after #### in the canonical
    form of `extract_number` (2.5 is "5/2")."""
    if split not in ("train", "test"):
        raise ConfigurationError("split", f"must be train or test, got {split!r}")
    path = _find(datasets_root(root) / "gsm8k", f"{split}.jsonl")
    items: list[EvalItem] = []
    with _open(path) as f:
        for line_no, line in enumerate(f):
            row = json.loads(line)
            gold = extract_number(row["answer"].split("####")[-1]) or ""
            prompt = GSM8K_PROMPT.format(question=row["question"])
            items.append(
                EvalItem(f"gsm8k/{split}/{line_no}", "gsm8k", (prompt,), gold, max_new_tokens)
            )
    return _sample(items, n, seed)


def load_mt_bench(
    n: int | None = None, *, seed: int = 0, root: str | os.PathLike[str] | None = None
) -> list[EvalItem]:
    """MT-Bench's 80 two-turn questions, with GPT-4's reference answers where FastChat has them
    (math, reasoning, coding)."""
    folder = datasets_root(root) / "mt_bench"
    references: dict[int, tuple[str, ...]] = {}
    try:
        ref_path = _find(folder / "reference_answer", "gpt-4.jsonl")
    except ConfigurationError:
        ref_path = None
    if ref_path is not None:
        with _open(ref_path) as f:
            for line in f:
                row = json.loads(line)
                references[int(row["question_id"])] = tuple(row["choices"][0]["turns"])
    items: list[EvalItem] = []
    with _open(_find(folder, "question.jsonl")) as f:
        for line in f:
            row = json.loads(line)
            qid = int(row["question_id"])
            refs = references.get(qid, ())
            items.append(
                EvalItem(
                    f"mt_bench/{qid}",
                    "mt_bench",
                    tuple(row["turns"]),
                    refs[0] if refs else None,
                    None,
                    row.get("category"),
                    refs,
                )
            )
    return _sample(items, n, seed)


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    with _open(path) as f:
        if ".jsonl" in path.name:
            for line_no, line in enumerate(f):
                if line.strip():
                    try:
                        yield dict(json.loads(line))
                    except (json.JSONDecodeError, TypeError, ValueError) as exc:
                        raise InvalidInputError(f"{path}:{line_no + 1}: not a JSON object") from exc
        elif ".csv" in path.name:
            yield from csv.DictReader(f)
        else:
            raise InvalidInputError(f"{path}: expected a .jsonl or .csv file (optionally .gz)")


def load_prompts(path: str | os.PathLike[str], dataset: str | None = None) -> list[EvalItem]:
    """A user's own prompts: JSONL or CSV with a `prompt` (or `question`) field and optional
    `id`, `reference` (or `answer`) and `max_new_tokens`."""
    file = Path(path)
    if not file.exists():
        raise ConfigurationError("path", f"{file} does not exist")
    name = dataset or file.name.split(".")[0]
    items: list[EvalItem] = []
    seen: set[str] = set()
    for i, row in enumerate(_rows(file)):
        prompt = row.get("prompt") or row.get("question")
        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidInputError(f"{file} row {i + 1}: no 'prompt' (or 'question') text")
        item_id = str(row.get("id") or f"{name}/{i}")
        if item_id in seen:
            raise InvalidInputError(f"{file} row {i + 1}: duplicate id {item_id!r}")
        seen.add(item_id)
        reference = row.get("reference", row.get("answer"))
        tokens = row.get("max_new_tokens")
        items.append(
            EvalItem(
                item_id,
                name,
                (prompt,),
                None if reference in (None, "") else str(reference),
                int(tokens) if tokens not in (None, "") else None,
            )
        )
    return items


@dataclass(frozen=True)
class Grade:
    """`correct` is None when the item has no automatic grader (a judge grades it)."""

    correct: bool | None
    predicted: str | None = None


def grade(item: EvalItem, text: str) -> Grade:
    """GSM8K: the final number; MMLU: the option letter; anything else: no automatic grade."""
    reference = item.reference
    if item.dataset == "mmlu":
        predicted = extract_choice(text)
    elif item.dataset == "gsm8k":
        predicted = extract_number(text)
        reference = extract_number(reference or "")  # canonical form: 2.5 and 5/2 alike
    else:
        return Grade(None)
    return Grade(predicted is not None and predicted == reference, predicted)

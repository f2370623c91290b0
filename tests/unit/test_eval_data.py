"""Evaluation loaders, graders and strict judge parsing (pure logic; the kit when present)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from confidence_router.errors import ConfigurationError, InvalidInputError
from confidence_router.evaluation.data import (
    EvalItem,
    datasets_root,
    grade,
    load_gsm8k,
    load_mmlu,
    load_mt_bench,
    load_prompts,
)
from confidence_router.evaluation.judge import parse_best, parse_rating


@pytest.fixture()
def kit(tmp_path: Path) -> Path:
    """A miniature data folder in the kit's layout (gzip files)."""
    (tmp_path / "mmlu" / "test").mkdir(parents=True)
    with gzip.open(tmp_path / "mmlu" / "test" / "astronomy_test.csv.gz", "wt") as f:
        f.write('What is the Sun?,A star,A planet,A moon,"A comet, maybe",A\n')
        f.write("Closest planet to the Sun?,Venus,Mercury,Earth,Mars,B\n")
    (tmp_path / "gsm8k").mkdir()
    with gzip.open(tmp_path / "gsm8k" / "test.jsonl.gz", "wt") as f:
        f.write(json.dumps({"question": "2+2?", "answer": "2+2=4\n#### 4"}) + "\n")
        f.write(json.dumps({"question": "10/4?", "answer": "#### 2.5"}) + "\n")
    (tmp_path / "mt_bench" / "reference_answer").mkdir(parents=True)
    with gzip.open(tmp_path / "mt_bench" / "question.jsonl.gz", "wt") as f:
        f.write(json.dumps({"question_id": 1, "category": "math", "turns": ["1+1?", "2+2?"]}))
        f.write("\n" + json.dumps({"question_id": 2, "category": "writing", "turns": ["a", "b"]}))
    with gzip.open(tmp_path / "mt_bench" / "reference_answer" / "gpt-4.jsonl.gz", "wt") as f:
        f.write(json.dumps({"question_id": 1, "choices": [{"turns": ["2", "4"]}]}) + "\n")
    return tmp_path


def test_loaders_read_the_kit_layout(kit: Path) -> None:
    mmlu = load_mmlu("test", root=kit)
    assert [i.id for i in mmlu] == ["mmlu/test/astronomy/0", "mmlu/test/astronomy/1"]
    assert "D. A comet, maybe" in mmlu[0].prompt and mmlu[0].reference == "A"
    assert mmlu[0].category == "astronomy" and mmlu[0].max_new_tokens == 8
    gsm = load_gsm8k("test", root=kit)
    assert [i.reference for i in gsm] == ["4", "5/2"] and gsm[0].max_new_tokens == 256
    mt = load_mt_bench(root=kit)
    assert mt[0].turns == ("1+1?", "2+2?") and mt[0].references == ("2", "4")
    assert mt[1].reference is None


def test_sampling_is_seeded_and_the_folder_setting_wins(
    kit: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONFIDENCE_ROUTER_DATASETS", str(kit))
    assert datasets_root() == kit
    first = [i.id for i in load_gsm8k("test", 1, seed=3)]
    assert first == [i.id for i in load_gsm8k("test", 1, seed=3)]
    with pytest.raises(ConfigurationError, match="split"):
        load_gsm8k("validation")
    with pytest.raises(ConfigurationError):
        datasets_root(kit / "missing")


def test_user_prompt_files(tmp_path: Path) -> None:
    jsonl = tmp_path / "mine.jsonl"
    jsonl.write_text('{"prompt": "hi", "reference": "hello"}\n{"id": "x", "question": "q"}\n')
    items = load_prompts(jsonl)
    assert [(i.id, i.reference) for i in items] == [("mine/0", "hello"), ("x", None)]
    csv_file = tmp_path / "mine.csv"
    csv_file.write_text("prompt,answer\nwhat?,42\n")
    assert load_prompts(csv_file)[0].reference == "42"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "no prompt"}\n')
    with pytest.raises(InvalidInputError, match="prompt"):
        load_prompts(bad)
    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"id": "a", "prompt": "x"}\n{"id": "a", "prompt": "y"}\n')
    with pytest.raises(InvalidInputError, match="duplicate"):
        load_prompts(dup)


def test_graders() -> None:
    mmlu = EvalItem("m", "mmlu", ("q",), "B")
    assert grade(mmlu, "B").correct and grade(mmlu, "The answer is B.").correct
    assert grade(mmlu, "A").correct is False and grade(mmlu, "no idea").predicted is None
    gsm = EvalItem("g", "gsm8k", ("q",), "2.5")
    assert grade(gsm, "so 10/4 = 2.5\n#### 2.5").correct
    assert grade(gsm, "#### 3").correct is False
    assert grade(EvalItem("t", "mt_bench", ("q",)), "anything").correct is None


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("Good answer. Rating: [[8]]", 8.0),
        ("[[7.5]]", 7.5),
        ("Rating: [[ 10 ]] and again [[10]]", 10.0),
        ("Rating: 8", None),  # not the required form
        ("Rating: [8]", None),  # FastChat's lenient fallback is not accepted
        ("[[11]]", None),  # out of range
        ("[[0]]", None),
        ("first [[3]] then [[9]]", None),  # ambiguous
        ("", None),
    ],
)
def test_rating_is_parsed_strictly(text: str, score: float | None) -> None:
    assert parse_rating(text) == score


def test_best_pick_is_parsed_strictly() -> None:
    assert parse_best("Answers 1 and 3 are right: [[1, 3]]", 3) == (1, 3)
    assert parse_best("[[2]]", 2) == (2,)
    assert parse_best("[[4]]", 3) is None  # no such answer
    assert parse_best("[[1]] ... or maybe [[2]]", 3) is None
    assert parse_best("the first one", 3) is None


def test_judge_prompts_ship_with_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    from confidence_router.evaluation import judge

    def no_kit(root: object = None) -> Path:
        raise ConfigurationError("datasets", "no data folder")

    monkeypatch.setattr(judge, "datasets_root", no_kit)
    prompts = judge.load_judge_prompts()
    assert {"single-v1", "single-math-v1", "pair-v2"} <= set(prompts)
    assert "[[rating]]" in prompts["single-v1"].prompt_template

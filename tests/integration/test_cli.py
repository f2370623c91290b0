"""The `confidence-router` command on the real models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from confidence_router.cli import main
from confidence_router.demo import DEMO_QUESTIONS
from confidence_router.server import LlamaCppServer


def test_demo_prints_a_routing_table(
    cloud_server: LlamaCppServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "demo",
            "--cloud-base-url",
            cloud_server.base_url,
            "--cloud-model",
            cloud_server.model_alias,
            "--threshold",
            "0.5",
            "--max-new-tokens",
            "12",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    rows = [
        line
        for line in out.splitlines()
        if any(line.startswith(q.text[:20]) for q in DEMO_QUESTIONS)
    ]
    assert len(rows) == len(DEMO_QUESTIONS)
    assert all((" edge " in r) or (" cloud " in r) for r in rows)
    assert all((" yes " in r) or (" NO " in r) for r in rows)  # graded against the reference
    assert "right answers: edge alone" in out and "threshold 0.5000" in out


def test_demo_questions_grade_their_reference_answers() -> None:
    for question in DEMO_QUESTIONS:
        assert question.is_right(f"The answer is {question.reference}.")
        assert not question.is_right("I do not know.")
    paris = DEMO_QUESTIONS[0]
    assert paris.is_right("Paris.") and not paris.is_right("Comparison")


def test_calibrate_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(
        "\n".join(
            json.dumps({"prompt": p})
            for p in ["What is 1+1?", "Name a fruit.", "Qwv zzt prnk?", "Hi there"]
        )
    )
    assert (
        main(
            [
                "calibrate",
                "--prompts",
                str(prompts),
                "--target-cloud-share",
                "0.5",
                "--max-new-tokens",
                "8",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 4 and result["achieved_cloud_share"] == 0.5
    assert 0.0 < result["threshold"] < 1.0


def test_bad_prompt_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"nothing": 1}\n')
    assert main(["calibrate", "--prompts", str(bad), "--target-cloud-share", "0.5"]) == 2
    assert "needs 'messages', 'prompt' or 'question'" in capsys.readouterr().err


def test_calibrate_to_a_target_quality(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [("What is 1+1?", 1), ("Name a fruit.", 1), ("Qwv zzt prnk?", 0), ("Hi there", 1)]
    prompts = tmp_path / "labelled.jsonl"
    prompts.write_text("\n".join(json.dumps({"prompt": p, "acceptable": a}) for p, a in rows))
    args = ["calibrate", "--prompts", str(prompts), "--target-quality", "0.9"]
    assert main([*args, "--max-new-tokens", "8"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 4 and result["target_quality"] == 0.9
    assert 0.0 <= result["kept_share"] <= 1.0 and 0.0 <= result["threshold"] <= 1.0
    unlabelled = tmp_path / "plain.jsonl"
    unlabelled.write_text(json.dumps({"prompt": "hi"}))
    assert main(["calibrate", "--prompts", str(unlabelled), "--target-quality", "0.9"]) == 2
    assert "acceptable" in capsys.readouterr().err


def test_eval_and_report_commands(
    cloud_server: LlamaCppServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "gsm8k.jsonl"  # a file named like a data set is graded like it
    questions = [
        ("What is 2+2? End with: #### <number>", "4"),
        ("What is 3+5? End with: #### <number>", "8"),
    ]
    data.write_text(
        "\n".join(
            json.dumps({"prompt": q, "reference": r, "max_new_tokens": 24}) for q, r in questions
        )
    )
    store, out = tmp_path / "eval.sqlite", tmp_path / "report"
    base = ["--cloud-base-url", cloud_server.base_url, "--cloud-model", cloud_server.model_alias]
    args = ["eval", "--data", str(data), "--store", str(store), "--run", "t", *base]
    assert main([*args, "--estimators", "max_sequence_probability", "perplexity"]) == 0
    assert main(["report", "--store", str(store), "--run", "t", "--out", str(out)]) == 0
    text = (out / "report.md").read_text()
    assert "| max_sequence_probability |" in text and "| oracle |" in text
    assert main(["report", "--store", str(store), "--run", "nope", "--out", str(out)]) == 2

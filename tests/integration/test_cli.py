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
        line for line in out.splitlines() if any(line.startswith(q[:20]) for q in DEMO_QUESTIONS)
    ]
    assert len(rows) == len(DEMO_QUESTIONS)
    assert all((" edge " in r) or (" cloud " in r) for r in rows)
    assert "escalated" in out and "threshold 0.5000" in out


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

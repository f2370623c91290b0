"""`benchmarks/eval_targets.py` on a synthetic stored run whose targets are known by design."""

from __future__ import annotations

from pathlib import Path

import pytest

from confidence_router.evaluation import ResultStore

from .helpers import load_script

ROOT = Path(__file__).resolve().parents[2]


def make_store(path: Path) -> None:
    """MMLU: fast edge (0.4 s vs cloud 2 s), MSP separates right from wrong perfectly.
    GSM8K: slow edge (8 s vs cloud 10 s), MSP says nothing (every score equal)."""
    with ResultStore(path) as store:
        run = store.run("r", {"data": ["mmlu:test:40", "gsm8k:test:40"]})
        for source, greedy, cloud_s in (("mmlu", 0.4, 2.0), ("gsm8k", 8.0, 10.0)):
            for i in range(40):
                right = i % 2 == 0
                msp = (0.9 if right else 0.1) if source == "mmlu" else 0.5
                item = f"{source}/test/{i}"
                run.put(item, "edge", {
                    "text": "x", "tokens": 1, "greedy_s": greedy, "samples_s": 0.0,
                    "latency_s": greedy, "sampled": [],
                    "scores": {"max_sequence_probability": msp, "mean_token_entropy": msp},
                })  # fmt: skip
                run.put(item, "cloud", {"text": "y", "tokens": 1, "latency_s": cloud_s})
                run.put(item, "grade", {"edge": float(right), "cloud": 1.0})


def test_targets_are_measured_per_source_and_written_into_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    targets = load_script(ROOT / "benchmarks" / "eval_targets.py", monkeypatch)
    make_store(tmp_path / "s.sqlite")
    report = tmp_path / "report.md"
    report.write_text("# Evaluation: r\n\nConfig: `{}`\n\n## r\n\nbody\n")
    argv = ["--store", str(tmp_path / "s.sqlite"), "--run", "r", "--report", str(report)]
    assert targets.main([*argv, "--resamples", "50"]) == 0
    out = dict(line.split("=", 1) for line in capsys.readouterr().out.splitlines())
    assert out["items[mmlu]"] == out["items[gsm8k]"] == "40"
    assert float(out["edge_greedy_vs_cloud_p50[mmlu]"]) == pytest.approx(0.2)
    assert float(out["edge_greedy_vs_cloud_p50[gsm8k]"]) == pytest.approx(0.8)
    # MMLU: 30% of items escalated, all wrong ones: the cascade is at 0.4 s on the kept 70%
    key = "cascade_p50_at_30pct_vs_cloud[mmlu,max_sequence_probability]"
    assert float(out[key]) == pytest.approx(0.2)
    # a perfect ranking on MMLU recovers half the gap at 25% of the calls, an interval below 50%
    assert "max_sequence_probability" in out["cpt50_interval_below_random[mmlu]"]
    assert out["cpt50_interval_below_random[gsm8k]"] == "none"
    text = report.read_text()
    assert text.index("## Targets") < text.index("## r") and "body" in text
    assert "| gsm8k (40) | kept answer p50 <= 0.5x cloud-only p50 |" in text
    assert "= 0.80x" in text and "| missed |" in text
    # a rerun replaces the section instead of adding a second one
    assert targets.main([*argv, "--resamples", "50"]) == 0
    assert report.read_text().count("## Targets") == 1
    assert (tmp_path / "targets.md").read_text().startswith("## Targets")

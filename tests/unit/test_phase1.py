"""Phase 1 (SE of both tiers per prompt, in the store) and phase 2 battles from it; a phase-1 run
killed with SIGKILL resumes without loss or duplicates."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from confidence_router.evaluation import EvalItem, ResultStore
from confidence_router.training.phase1 import (
    accuracy_battles,
    collect_se,
    sample_accuracy,
    se_battles,
)
from confidence_router.uncertainty import SemanticEntropy

from .helpers import ScriptedBackend, samples
from .sample_helpers import FirstLetter

ROOT = Path(__file__).resolve().parents[2]
ITEMS = [EvalItem(f"q{i}", "own", (f"question {i}",)) for i in range(3)]


def test_collect_se_and_battles(tmp_path: Path) -> None:
    # edge: one meaning each time; cloud: five meanings on q0, one on q1, two on q2
    edge = ScriptedBackend([samples("apple", "ant", "axe", "arm", "ace")] * 3, name="e")
    cloud = ScriptedBackend(
        [
            samples("apple", "bee", "cat", "dog", "eel"),
            samples("apple", "ant", "axe", "arm", "ace"),
            samples("apple", "ant", "bee", "bat", "box"),
        ],
        name="c",
    )
    se = SemanticEntropy(FirstLetter())
    with ResultStore(tmp_path / "p1.sqlite") as store:
        run = store.run("phase1", {"n": 5})
        out = collect_se(run, ITEMS, edge, cloud, edge_estimator=se, cloud_estimator=se)
        assert out["q0"]["se/edge"]["se"] == 0.0
        assert out["q0"]["se/cloud"]["se"] == pytest.approx(math.log(5))
        assert out["q0"]["se/cloud"]["clusters"] == [0, 1, 2, 3, 4]
        assert edge.calls[0][1].samples_only and edge.calls[0][1].num_samples == 5
        battles = se_battles(run, ITEMS, edge_model="e", cloud_model="c", tau=0.1)
        assert [b.winner for b in battles] == ["edge", "tie", "edge"]  # zero SE wins; 0 vs 0 tie
        collect_se(run, ITEMS, edge, cloud, edge_estimator=se, cloud_estimator=se)
        assert len(edge.calls) == 3  # nothing computed twice


def tier(name: str, *answers: str) -> ScriptedBackend:
    """A scripted tier answering each item with five one-letter samples."""
    return ScriptedBackend([samples(*letters) for letters in answers], name=name)


def test_accuracy_labels_from_graded_samples(tmp_path: Path) -> None:
    # MMLU-style items whose reference is A: the share of samples answering A is each tier's rate
    items = [EvalItem(f"mmlu/val/x/{i}", "mmlu", (f"question {i}",), "A", 8) for i in range(3)]
    edge = tier("e", "AABCD", "AAAAA", "BBBBB")
    cloud = tier("c", "AAAAB", "AAAAA", "CCCCC")
    se = SemanticEntropy(FirstLetter())
    with ResultStore(tmp_path / "p1.sqlite") as store:
        run = store.run("phase1", {"n": 5})
        collect_se(run, items, edge, cloud, edge_estimator=se, cloud_estimator=se)
        rates = sample_accuracy(run, [*items, EvalItem("own", "own", ("no reference",))])
        assert rates == {
            items[0].id: (0.4, 0.8),
            items[1].id: (1.0, 1.0),
            items[2].id: (0.0, 0.0),
        }
        battles = accuracy_battles(run, items, edge_model="e", cloud_model="c")
        assert [b.winner for b in battles] == ["cloud", "tie", "tie"]
        assert battles[0].response_a == "A" and battles[0].model_b == "c"


JOB = textwrap.dedent(
    """
    import sys, time
    from confidence_router.evaluation import EvalItem, ResultStore
    from confidence_router.training.phase1 import collect_se
    from confidence_router.uncertainty import SemanticEntropy
    from tests.unit.helpers import ScriptedBackend, samples
    from tests.unit.sample_helpers import FirstLetter

    class Slow(ScriptedBackend):
        def generate(self, *args, **kwargs):
            time.sleep(0.05)
            with open(sys.argv[2], "a") as log:
                log.write("call\\n")
            return samples("apple", "bee", "cat", "ant", "axe")

    items = [EvalItem(f"q{i}", "own", (f"question {i}",)) for i in range(30)]
    run = ResultStore(sys.argv[1]).run("phase1", {"n": 5})
    se = SemanticEntropy(FirstLetter())
    collect_se(run, items, Slow([]), Slow([]), edge_estimator=se, cloud_estimator=se,
               progress=False)
    """
)


def test_phase1_killed_midway_resumes(tmp_path: Path) -> None:
    db, calls, script = tmp_path / "p1.sqlite", tmp_path / "calls.txt", tmp_path / "job.py"
    script.write_text(JOB)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(script), str(db), str(calls)]
    proc = subprocess.Popen(command, env=env, cwd=ROOT)

    def rows() -> list[tuple[str, str]]:
        with sqlite3.connect(db) as con:
            try:
                return con.execute("SELECT item, kind FROM results").fetchall()
            except sqlite3.OperationalError:  # the job has created the file, not yet the table
                return []

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (db.exists() and len(rows()) >= 10):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = rows()
    assert 10 <= len(before) < 60
    subprocess.run(command, env=env, cwd=ROOT, check=True)
    after = rows()
    assert len(after) == 60 and len(set(after)) == 60 and set(before) <= set(after)
    assert 60 <= len(calls.read_text().splitlines()) <= 61

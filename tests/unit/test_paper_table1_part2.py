"""`benchmarks/paper_table1_part2.py` end to end on scripted tiers: labels from a phase-1 store,
routers trained and scored on an evaluation run, the report written."""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from confidence_router import CascadeRouter
from confidence_router.evaluation import EvalItem, ResultStore
from confidence_router.evaluation.job import evaluate, run_config
from confidence_router.training.phase1 import accuracy_battles, collect_se, se_battles
from confidence_router.uncertainty import SemanticEntropy

from .helpers import ScriptedBackend, generation, samples
from .sample_helpers import FirstLetter

ROOT = Path(__file__).resolve().parents[2]


def load_part2(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The benchmark module, imported from its file (sys.path and sys.modules restored)."""
    path = ROOT / "benchmarks" / "paper_table1_part2.py"
    monkeypatch.setattr(sys, "path", list(sys.path))
    spec = importlib.util.spec_from_file_location("paper_table1_part2", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules.pop("router_grids", None)  # the module keeps what it imported
    return module


def embed(texts: Sequence[str]) -> np.ndarray:
    """Deterministic 8-d vectors; "hard" questions point one way, "easy" ones the other."""
    rows = []
    for text in texts:
        noise = np.frombuffer(hashlib.sha256(text.encode()).digest()[:8], dtype=np.uint8) / 255
        rows.append(noise * 0.1 + (1.0 if "hard" in text else -1.0))
    return np.array(rows)


def item(kind: str, i: int, split: str) -> EvalItem:
    return EvalItem(f"mmlu/{split}/x/{kind}{i}", "mmlu", (f"{kind} question {i}",), "A", 8)


def test_part2_trains_and_scores_every_router(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    part2 = load_part2(monkeypatch)
    train = [item(k, i, "val") for i in range(10) for k in ("hard", "easy")]
    test = [item(k, i, "test") for i in range(4) for k in ("hard", "easy")]
    # training: the edge is unsure (and wrong) on hard questions, sure on easy ones; the cloud
    # is sure and right on both
    edge = ScriptedBackend(
        [
            samples("B", "C", "D", "A", "B") if "hard" in t.prompt else samples(*"AAAAA")
            for t in train
        ],
        name="e",
    )
    cloud = ScriptedBackend([samples(*"AAAAA") for _ in train], name="c")
    se = SemanticEntropy(FirstLetter())
    with ResultStore(tmp_path / "p1.sqlite") as store:
        run = store.run("p1", {})
        collect_se(run, train, edge, cloud, edge_estimator=se, cloud_estimator=se)
        labels = {
            "SE": se_battles(run, train, edge_model="e", cloud_model="c"),
            "accuracy": accuracy_battles(run, train, edge_model="e", cloud_model="c"),
        }
    assert {b.winner for b in labels["SE"] if "hard" in b.prompt} == {"cloud"}
    # test: the edge is wrong on hard questions but (white-box) confident everywhere
    edge_test = ScriptedBackend(
        [generation([-0.1], text="B" if "hard" in t.prompt else "A") for t in test], name="e"
    )
    cloud_test = ScriptedBackend([generation([], text="A") for _ in test], name="c")
    router = CascadeRouter(edge_test, cloud_test)
    args = argparse.Namespace(
        seed=0, out=tmp_path / "out", hybrid_estimator="max_sequence_probability", resamples=20
    )
    with ResultStore(tmp_path / "eval.sqlite") as store:
        eval_run = store.run("eval", run_config(router))
        evaluate(eval_run, test, router, progress=False)
        pytest.importorskip("matplotlib", exc_type=ImportError)
        text = part2._evaluate(args, embed, eval_run, train, test, labels)
    rows: dict[str, str] = {}
    for line in text.splitlines():  # the first table of the report (all items)
        rows.setdefault(line.split(" | ")[0].strip("| "), line)
    assert "SE-label sw_ranking" in rows and "accuracy-label knn" in rows
    assert any(name.startswith("hybrid (SE-label ") for name in rows)
    # routers that learnt "hard -> cloud" send the hard items first: as good as the oracle;
    # the white-box cascade is confident everywhere, no better than random
    oracle = rows["oracle"].split(" | ")[1]
    assert oracle.startswith("25.0%")
    assert rows["SE-label knn"].split(" | ")[1] == oracle
    assert rows["accuracy-label sw_ranking"].split(" | ")[1] == oracle
    assert rows["max_sequence_probability"].split(" | ")[1].startswith("50.0%")
    hybrid_row = next(line for name, line in rows.items() if name.startswith("hybrid"))
    assert hybrid_row.split(" | ")[3].startswith("0.750")  # APGR: the oracle's 0.750
    assert (tmp_path / "out" / "report.md").exists()

"""`benchmarks/se_bench`: the semantic-entropy benchmark's runs in the shared `ResultStore`, and
the one-off migration of its JSONL files (read as the old store read them)."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from confidence_router.evaluation import ResultStore

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
NAME = "qwen2.5-coder-0.5b-instruct_float32_mmlu_n5_t32_p2"


@pytest.fixture
def se_bench(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """`se_bench.migrate_jsonl` (sys.path and sys.modules restored afterwards)."""
    monkeypatch.setattr(sys, "path", [str(BENCHMARKS), *sys.path])
    yield importlib.import_module("se_bench.migrate_jsonl")
    for name in [n for n in sys.modules if n == "se_bench" or n.startswith("se_bench.")]:
        del sys.modules[name]


def record(item: str, correct: int, score: float) -> dict[str, object]:
    return {"id": item, "correct": correct, "scores": {"perplexity": score, "p_true": None}}


def test_run_names_and_configs_are_inverse(se_bench: ModuleType) -> None:
    store = sys.modules["se_bench.store"]
    config = store.config_of(NAME)
    assert config["model"] == "qwen2.5-coder-0.5b-instruct" and config["max_new_tokens"] == 32
    assert (
        store.run_name(
            store.run_config("models/qwen2.5-coder-0.5b-instruct.gguf", "float32", "mmlu", 5, 32)
        )
        == NAME
    )
    with pytest.raises(ValueError):
        store.config_of("results")


def test_migration_keeps_what_the_old_store_read(se_bench: ModuleType, tmp_path: Path) -> None:
    lines = [record("b", 1, 0.5), record("a", 0, 0.25), record("b", 0, 0.75)]
    text = "\n".join(json.dumps(r) for r in lines) + '\n{"id": "c", "cor'  # a cut last line
    (tmp_path / f"{NAME}.jsonl").write_text(text)
    se_bench.main(["--results-dir", str(tmp_path)])
    store_module = sys.modules["se_bench.store"]
    with ResultStore(tmp_path / "semantic_entropy.sqlite") as store:
        run = store_module.get_run(store, store_module.config_of(NAME), create=False)
        found = store_module.records(run, {"a", "b", "c"})
    # the later "b" counts, at the first one's place; the unfinished line is skipped
    assert found == [record("b", 0, 0.75), record("a", 0, 0.25)]
    se_bench.main(["--results-dir", str(tmp_path)])  # a rerun adds nothing and still verifies


def test_reporting_creates_no_store(se_bench: ModuleType, tmp_path: Path) -> None:
    store_module = sys.modules["se_bench.store"]
    assert store_module.open_store(tmp_path, create=False) is None
    with ResultStore(tmp_path / "semantic_entropy.sqlite") as store:
        assert store_module.get_run(store, store_module.config_of(NAME), create=False) is None
        assert store.runs() == {}
    assert store_module.records(None, {"a"}) == []


def test_quality_columns_keep_the_table_order(se_bench: ModuleType) -> None:
    quality = importlib.import_module("se_bench.quality")
    scores = {name: 0.5 for name in sorted([*quality.COLUMNS, "zeta"])}  # stored sorted
    assert quality.columns([{"scores": scores}]) == [*quality.COLUMNS, "zeta"]

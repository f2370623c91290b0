"""Registries: an estimator, equivalence or predictive router registered here (one decorator, no
other file edited) is available by name: `get_*`, routers, training and the CLI's choices."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from confidence_router.cli import _parser
from confidence_router.errors import ConfigurationError
from confidence_router.evaluation.commands import estimators_from
from confidence_router.routers import ROUTERS, EmbeddingRouter, load_router, register
from confidence_router.routers.base import Floats
from confidence_router.training.labels import Battle
from confidence_router.training.train import train_router
from confidence_router.uncertainty import (
    EQUIVALENCES,
    ESTIMATORS,
    AnswerEquivalence,
    Equivalence,
    Estimator,
    NumSemanticSets,
    RequestStatistics,
    SemanticEntropy,
    get_equivalence,
    get_estimator,
    register_equivalence,
    register_estimator,
)

from .helpers import stats

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
CALIBRATE = ["calibrate", "--prompts", "p.txt", "--target-cloud-share", "0.3"]


def test_built_ins_are_registered_in_order() -> None:
    assert set(ESTIMATORS) == {
        "max_sequence_probability",
        "perplexity",
        "mean_token_entropy",
        "semantic_entropy",
        "num_semantic_sets",
        "lexical_similarity",
        "p_true",
        "probe",
    }
    assert list(EQUIVALENCES) == ["answer", "embedding", "llm", "nli"]
    assert list(ROUTERS) == ["knn", "mlp", "sw_ranking", "matrix_factorization", "random"]


def test_benchmark_grids_are_the_registered_routers_grids(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    grids = _router_grids(monkeypatch).grids()
    assert list(grids) == ["knn", "mlp", "sw_ranking", "matrix_factorization"]  # random apart
    made = {kind: [make().settings() for make in makes] for kind, makes in grids.items()}
    assert made["knn"] == [{"k": 1}, {"k": 10}, {"k": 50}]  # the grids as they were hard-coded
    assert made["sw_ranking"] == [{"gamma": 10.0}]
    assert [(s["hidden"], s["epochs"], s["lr"]) for s in made["mlp"]] == [
        (32, 150, 3e-3),
        (128, 150, 3e-3),
    ]
    assert [(s["rank"], s["epochs"], s["lr"]) for s in made["matrix_factorization"]] == [
        (16, 150, 3e-3),
        (64, 150, 3e-3),
    ]


@pytest.mark.usefixtures("clean_registries")
def test_a_registered_estimator_is_available_by_name() -> None:
    @register_estimator
    class Always(Estimator):
        name: ClassVar[str] = "always_sure"

        def uncertainty(self, stats: RequestStatistics) -> float:
            return 0.0

        def to_confidence(self, uncertainty: float) -> float:
            return 1.0

    assert isinstance(get_estimator("always_sure"), Always)
    assert _parser().parse_args([*CALIBRATE, "--estimator", "always_sure"]).estimator == (
        "always_sure"
    )
    args = _parser().parse_args(["eval", "--data", "x.jsonl", "--estimators", "always_sure"])
    assert args.estimators == ["always_sure"]
    assert get_estimator("always_sure").confidence(stats([-1.0])) == 1.0


def test_unknown_names_are_refused_by_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args([*CALIBRATE, "--estimator", "nope"])
    assert "perplexity" in capsys.readouterr().err  # the choices are listed
    with pytest.raises(SystemExit):
        _parser().parse_args(["train", "--battles", "b.csv", "--out", "r", "--router", "nope"])
    with pytest.raises(ConfigurationError, match="unknown equivalence 'nope'; allowed: answer"):
        get_equivalence("nope")


@pytest.mark.usefixtures("clean_registries")
def test_a_registered_equivalence_is_available_by_name() -> None:
    @register_equivalence
    class SameFirstWord(Equivalence):
        name: ClassVar[str] = "same_first_word"

        def entails(self, question: str, premise: str, hypothesis: str) -> bool:
            return premise.split()[:1] == hypothesis.split()[:1]

    assert isinstance(get_equivalence("same_first_word"), SameFirstWord)
    assert isinstance(SemanticEntropy(equivalence="same_first_word").equivalence, SameFirstWord)
    args = _parser().parse_args([*CALIBRATE, "--equivalence", "same_first_word"])
    assert args.equivalence == "same_first_word"
    se, msp, sets = estimators_from(
        ["semantic_entropy", "max_sequence_probability", "num_semantic_sets"], "same_first_word"
    )
    assert isinstance(se, SemanticEntropy) and isinstance(sets, NumSemanticSets)
    assert se.equivalence is sets.equivalence  # one instance: the clusters are shared
    assert msp == "max_sequence_probability"  # takes no equivalence: left as a name


def test_equivalences_by_name_need_their_arguments() -> None:
    assert isinstance(SemanticEntropy(equivalence="answer").equivalence, AnswerEquivalence)
    with pytest.raises(ConfigurationError, match="judge"):
        get_equivalence("llm")
    with pytest.raises(ConfigurationError, match="clusters answers"):
        estimators_from(["perplexity"], "answer")
    assert estimators_from(["perplexity"], None) == ["perplexity"]


@pytest.mark.usefixtures("clean_registries")
def test_a_registered_router_is_available_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    @register
    class Constant(EmbeddingRouter):
        kind = "constant"
        grid = ({"p": 0.2}, {"p": 0.8})

        def __init__(self, p: float = 0.5) -> None:
            super().__init__()
            self.p = p

        def _fit(self, x: Floats, y: Floats) -> None:
            pass

        def _predict(self, x: Floats) -> Floats:
            return np.full(x.shape[0], self.p)

        def settings(self) -> dict[str, Any]:
            return {"p": self.p}

        def arrays(self) -> dict[str, Floats]:
            return {"p": np.array([self.p])}

        def load_arrays(self, arrays: dict[str, Floats]) -> None:
            pass

    battles = [Battle.of(str(i), f"q{i}", "edge", edge_model="e", cloud_model="c") for i in (1, 2)]
    router = train_router(battles, "constant", lambda t: np.ones((len(t), 3)), embedding_model="m")
    loaded = load_router(router.save(tmp_path / "r"), embedding_model="m")
    assert isinstance(loaded, Constant) and loaded.predict(np.ones(3))[0] == 0.5
    train = ["train", "--battles", "b.csv", "--out", "r", "--router", "constant"]
    assert _parser().parse_args(train).router == "constant"
    grid = _router_grids(monkeypatch).grids()["constant"]
    x = np.ones((1, 3))
    assert [make().fit(x, ["tie"]).predict(x)[0] for make in grid] == [0.2, 0.8]


def test_a_taken_name_is_refused() -> None:
    class Other(Estimator):
        name: ClassVar[str] = "perplexity"

        def uncertainty(self, stats: RequestStatistics) -> float:
            return 0.0

        def to_confidence(self, uncertainty: float) -> float:
            return 1.0

    with pytest.raises(ConfigurationError, match="already registered"):
        register_estimator(Other)
    with pytest.raises(TypeError, match="must subclass Estimator"):
        register_estimator(AnswerEquivalence)  # type: ignore[type-var]
    assert ESTIMATORS["perplexity"].__name__ == "Perplexity"


def _router_grids(monkeypatch: pytest.MonkeyPatch) -> Any:
    """`benchmarks/router_grids.py`, imported from its file."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    spec = importlib.util.spec_from_file_location("router_grids", BENCHMARKS / "router_grids.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

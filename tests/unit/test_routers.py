"""Predictive routers recover a planted signal on synthetic embeddings (Random does not), and
round-trip through safetensors + JSON, refusing a mismatched embedding model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from confidence_router.errors import ConfigurationError, InvalidInputError
from confidence_router.metrics import auroc
from confidence_router.routers import (
    EmbeddingRouter,
    KNNRouter,
    MatrixFactorizationRouter,
    MLPRouter,
    Provenance,
    RandomRouter,
    SWRankingRouter,
    load_router,
)
from confidence_router.training.labels import Winner


def planted(n: int, seed: int) -> tuple[np.ndarray, list[Winner]]:
    """Queries in 8 dimensions around two centres: the cloud wins near +e0, the edge near -e0;
    10% of labels are ties."""
    rng = np.random.default_rng(seed)
    side = rng.integers(0, 2, n)
    x = rng.normal(0, 0.6, (n, 8))
    x[:, 0] += np.where(side == 1, 1.0, -1.0)
    winners: list[Winner] = ["cloud" if s else "edge" for s in side]
    for i in rng.choice(n, n // 10, replace=False):
        winners[i] = "tie"
    return x, winners


ROUTERS = [
    lambda: KNNRouter(k=5),
    lambda: SWRankingRouter(),
    lambda: MLPRouter(hidden=16, epochs=200, lr=1e-2),
    lambda: MatrixFactorizationRouter(rank=8, epochs=200, lr=1e-2),
]


@pytest.mark.parametrize("make", ROUTERS, ids=["knn", "sw", "mlp", "mf"])
def test_router_recovers_the_planted_signal(make: object) -> None:
    x, winners = planted(300, seed=0)
    test_x, test_winners = planted(200, seed=1)
    router: EmbeddingRouter = make()  # type: ignore[operator]
    router.fit(x, winners)
    p = router.predict(test_x)
    decided = [i for i, w in enumerate(test_winners) if w != "tie"]
    cloud_won = [1.0 if test_winners[i] == "cloud" else 0.0 for i in decided]
    assert auroc(p[decided], cloud_won) > 0.85
    assert p.min() >= 0.0 and p.max() <= 1.0


def test_random_router_has_no_signal_but_is_stable() -> None:
    x, winners = planted(300, seed=0)
    test_x, test_winners = planted(400, seed=1)
    router = RandomRouter().fit(x, winners)
    p = router.predict(test_x)
    decided = [i for i, w in enumerate(test_winners) if w != "tie"]
    cloud_won = [1.0 if test_winners[i] == "cloud" else 0.0 for i in decided]
    assert abs(auroc(p[decided], cloud_won) - 0.5) < 0.1
    assert np.array_equal(p, router.predict(test_x))  # the same query, the same score


@pytest.mark.parametrize("make", [*ROUTERS, RandomRouter], ids=["knn", "sw", "mlp", "mf", "rnd"])
def test_save_load_round_trip_and_embedding_check(make: object, tmp_path: Path) -> None:
    x, winners = planted(100, seed=0)
    router: EmbeddingRouter = make()  # type: ignore[operator]
    router.fit(x, winners, Provenance("edge-m", "cloud-m", "all-MiniLM-L6-v2", tau=0.1))
    meta = router.save(tmp_path / "router")
    assert meta.suffix == ".json" and (tmp_path / "router.safetensors").exists()
    loaded = load_router(tmp_path / "router", embedding_model="all-MiniLM-L6-v2")
    assert type(loaded) is type(router)
    assert np.allclose(loaded.predict(x[:20]), router.predict(x[:20]), atol=1e-5)
    assert loaded.provenance == router.provenance and len(loaded.provenance.data_hash) == 16
    with pytest.raises(ConfigurationError, match="embedding"):
        load_router(tmp_path / "router", embedding_model="another-embedder")


def test_bad_input() -> None:
    with pytest.raises(InvalidInputError):
        KNNRouter().fit(np.zeros((3, 4)), ["edge", "cloud"])
    with pytest.raises(InvalidInputError):
        KNNRouter().predict(np.zeros(4))
    router = KNNRouter().fit(np.eye(4), ["edge", "cloud", "tie", "edge"])
    with pytest.raises(InvalidInputError, match="dimensions"):
        router.predict(np.zeros(5))
    with pytest.raises(ConfigurationError):
        SWRankingRouter(gamma=1.0)


def test_train_router_from_battles(tmp_path: Path) -> None:
    from confidence_router.training import Battle
    from confidence_router.training.train import train_router

    x, winners = planted(60, seed=2)
    prompts = [f"q{i}" for i in range(60)]
    table = dict(zip(prompts, x, strict=True))
    battles = [
        Battle.of(p, p, w, edge_model="e", cloud_model="c")
        for p, w in zip(prompts, winners, strict=True)
    ]
    router = train_router(
        battles, "knn", lambda texts: np.array([table[t] for t in texts]), embedding_model="fake"
    )
    assert router.provenance.edge_model == "e" and router.provenance.embedding_model == "fake"
    assert router.predict(table["q0"])[0] == (
        1.0 if winners[0] == "cloud" else 0.0 if winners[0] == "edge" else 0.5
    )
    with pytest.raises(ConfigurationError, match="kind"):
        train_router(battles, "svm", lambda t: np.zeros((len(t), 8)), embedding_model="fake")

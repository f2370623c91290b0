"""Preference labels from SE pairs and accuracy, and the battle-format round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from confidence_router.errors import ConfigurationError, InvalidInputError
from confidence_router.training import (
    Battle,
    accuracy_label,
    read_battles,
    se_label,
    write_battles,
)


@pytest.mark.parametrize(
    ("se_edge", "se_cloud", "tau", "winner"),
    [
        (0.0, 0.0, 0.1, "tie"),  # both certain
        (0.0, 0.7, 0.1, "edge"),  # a zero SE wins
        (0.7, 0.0, 0.1, "cloud"),
        (0.5, 1.0, 0.1, "edge"),  # dSE = 0.5 > 0.1: lower SE wins
        (1.0, 0.5, 0.1, "cloud"),  # dSE = |(0.5-1)/0.5| = 1
        (0.95, 1.0, 0.1, "tie"),  # dSE = 0.05 <= 0.1
        (0.75, 1.0, 0.25, "tie"),  # dSE = 0.25 = tau: not above the margin
        (0.95, 1.0, 0.0, "edge"),  # no margin
        (0.5, 1.0, 0.6, "tie"),  # a wide margin: towards ties
    ],
)
def test_se_label(se_edge: float, se_cloud: float, tau: float, winner: str) -> None:
    assert se_label(se_edge, se_cloud, tau) == winner


def test_label_errors_and_accuracy_labels() -> None:
    with pytest.raises(ConfigurationError):
        se_label(0.1, 0.2, tau=-0.1)
    with pytest.raises(InvalidInputError):
        se_label(-0.1, 0.2)
    assert accuracy_label(True, False) == "edge" and accuracy_label(False, True) == "cloud"
    assert accuracy_label(True, True) == accuracy_label(False, False) == "tie"


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_battles_round_trip(tmp_path: Path, suffix: str) -> None:
    battles = [
        Battle.of("q1", "2+2?", "cloud", edge_model="e", cloud_model="c", cloud_response="4"),
        Battle.of("q2", 'say "hi",\nplease', "tie", edge_model="e", cloud_model="c"),
        Battle.of("q3", "x", "edge", edge_model="e", cloud_model="c"),
    ]
    path = write_battles(battles, tmp_path / f"battles{suffix}")
    assert read_battles(path) == battles
    assert [b.winner for b in read_battles(path)] == ["cloud", "tie", "edge"]


def test_bad_battle_rows_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "id,model_a,model_b,prompt,response_a,response_b,winner_model_a,winner_model_b,"
        "winner_tie\nq,e,c,p,,,1,1,0\n"
    )
    with pytest.raises(InvalidInputError, match="exactly one"):
        read_battles(path)
    with pytest.raises(ConfigurationError):
        write_battles([], tmp_path / "x.txt")

"""Preference labels (phase 2 of the paper) and RouteLLM's battle format.

SE labels (Eqs. 3-4): dSE = |(SE_cloud - SE_edge) / SE_cloud|; above the margin tau the tier with
the lower SE wins, else a tie. Both SE = 0 is a tie; otherwise a zero SE (where dSE is undefined
or 1) wins. Accuracy labels (TO-Router): the correct tier wins, both or neither correct is a tie.
A battle row is `id, model_a, model_b, prompt, response_a, response_b, winner_model_a,
winner_model_b, winner_tie` with model_a the edge (weak) and model_b the cloud (strong).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from confidence_router.errors import ConfigurationError, InvalidInputError
from confidence_router.winner import Winner as Winner  # re-exported: public API

FIELDS = (
    "id",
    "model_a",
    "model_b",
    "prompt",
    "response_a",
    "response_b",
    "winner_model_a",
    "winner_model_b",
    "winner_tie",
)


def se_label(se_edge: float, se_cloud: float, tau: float = 0.1) -> Winner:
    """The SE preference label of one prompt (lower SE = more confident = preferred)."""
    if tau < 0:
        raise ConfigurationError("tau", f"must be >= 0, got {tau}")
    if se_edge < 0 or se_cloud < 0:
        raise InvalidInputError(f"semantic entropy is >= 0, got {se_edge}, {se_cloud}")
    if se_edge == 0 and se_cloud == 0:
        return "tie"
    if se_edge == 0:
        return "edge"
    if se_cloud == 0:
        return "cloud"
    delta = abs((se_cloud - se_edge) / se_cloud)
    if delta <= tau:
        return "tie"
    return "edge" if se_edge < se_cloud else "cloud"


def accuracy_label(edge_correct: bool, cloud_correct: bool) -> Winner:
    """TO-Router's label: the tier that is right wins; both or neither right is a tie."""
    if edge_correct == cloud_correct:
        return "tie"
    return "edge" if edge_correct else "cloud"


@dataclass(frozen=True)
class Battle:
    id: str
    model_a: str
    model_b: str
    prompt: str
    response_a: str
    response_b: str
    winner_model_a: int
    winner_model_b: int
    winner_tie: int

    @classmethod
    def of(
        cls,
        item_id: str,
        prompt: str,
        winner: Winner,
        *,
        edge_model: str,
        cloud_model: str,
        edge_response: str = "",
        cloud_response: str = "",
    ) -> Battle:
        return cls(
            item_id,
            edge_model,
            cloud_model,
            prompt,
            edge_response,
            cloud_response,
            int(winner == "edge"),
            int(winner == "cloud"),
            int(winner == "tie"),
        )

    @property
    def winner(self) -> Winner:
        """From the edge (model_a) / cloud (model_b) point of view."""
        return "edge" if self.winner_model_a else "cloud" if self.winner_model_b else "tie"


def _battle(row: dict[str, object], where: str) -> Battle:
    missing = [f for f in FIELDS if f not in row]
    if missing:
        raise InvalidInputError(f"{where}: missing {missing}")
    try:
        flags = [int(float(str(row[f]))) for f in FIELDS[6:]]
    except ValueError as exc:
        raise InvalidInputError(f"{where}: winner columns must be 0 or 1") from exc
    if sorted(flags) != [0, 0, 1]:
        raise InvalidInputError(f"{where}: exactly one of the winner columns must be 1")
    text = {f: str(row[f]) for f in FIELDS[:6]}
    return Battle(**text, winner_model_a=flags[0], winner_model_b=flags[1], winner_tie=flags[2])


def write_battles(battles: Iterable[Battle], path: str | os.PathLike[str]) -> Path:
    """CSV or JSONL by the file's extension."""
    target = Path(path)
    rows = [asdict(b) for b in battles]
    if target.suffix == ".jsonl":
        target.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif target.suffix == ".csv":
        with target.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(rows)
    else:
        raise ConfigurationError("path", f"expected .csv or .jsonl, got {target.name}")
    return target


def read_battles(path: str | os.PathLike[str]) -> list[Battle]:
    source = Path(path)
    if source.suffix == ".jsonl":
        lines = source.read_text(encoding="utf-8").splitlines()
        rows: Sequence[dict[str, object]] = [json.loads(line) for line in lines if line.strip()]
    elif source.suffix == ".csv":
        with source.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    else:
        raise ConfigurationError("path", f"expected .csv or .jsonl, got {source.name}")
    return [_battle(dict(row), f"{source}:{i + 1}") for i, row in enumerate(rows)]

"""The one runner for long jobs: per item, stages computed once each and stored at once."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tqdm.auto import tqdm

from confidence_router.evaluation.store import Run

T = TypeVar("T")
Results = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Stage(Generic[T]):
    """One result per item: `compute(item, results)` gets the item and the results of the
    stages before it (stored or just computed) and returns a JSON object."""

    kind: str
    compute: Callable[[T, Results], Mapping[str, Any]]


def run_stages(
    run: Run,
    items: Sequence[T],
    stages: Sequence[Stage[T]],
    *,
    item_id: Callable[[T], str] = lambda item: str(getattr(item, "id")),  # noqa: B009
    progress: bool = True,
) -> dict[str, Results]:
    """Compute every stage for every item, skipping what `run` already holds. Each result is
    stored as soon as it exists, so an interrupted run resumes where it stopped. The progress
    bar shows items done, rate and ETA. Returns {item id: {kind: result}}."""
    kinds = [stage.kind for stage in stages]
    if len(set(kinds)) != len(kinds):
        raise ValueError(f"stage kinds must be unique, got {kinds}")
    done = {kind: run.table(kind) for kind in kinds}
    out: dict[str, Results] = {}
    finished = sum(all(item_id(i) in done[k] for k in kinds) for i in items)
    bar = tqdm(
        total=len(items),
        initial=finished,
        desc=run.name,
        unit="item",
        disable=not progress,
        file=sys.stderr,
    )
    with bar:
        for item in items:
            key = item_id(item)
            results: Results = {}
            complete = True
            for stage in stages:
                stored = done[stage.kind].get(key)
                if stored is None:
                    complete = False
                    stored = run.get(key, stage.kind)  # another process may have written it
                if stored is None:
                    stored = dict(stage.compute(item, results))
                    run.put(key, stage.kind, stored)
                results[stage.kind] = stored
            out[key] = results
            if not complete:
                bar.update(1)
    return out

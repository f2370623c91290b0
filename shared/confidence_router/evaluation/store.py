"""One SQLite store for every long job (evaluation, uncertainty benchmarks, training labels).

A result is a JSON object keyed by (run, item, kind); `kind` says what it is ("edge",
"cloud", "estimator/semantic_entropy", "grade/edge", ...). Each `put` is its own committed
transaction (WAL journal, synchronous=FULL), so a process killed with SIGKILL loses nothing it
had written, and the primary key means a rerun can never duplicate a row: `compute` returns the
stored result when there is one and computes (and stores) it otherwise. Only JSON is stored and
read back: nothing is ever unpickled.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from confidence_router.errors import ConfigurationError, InvalidInputError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    name TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    run TEXT NOT NULL REFERENCES runs(name),
    item TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (run, item, kind)
);
"""


def _canonical(config: Mapping[str, Any]) -> str:
    try:
        return json.dumps(config, sort_keys=True, separators=(",", ":"))
    except TypeError as exc:
        raise InvalidInputError(f"a run's config must be JSON-serialisable: {exc}") from exc


class ResultStore:
    """`ResultStore(path)`: the SQLite file (created when missing). Thread-safe."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def run(self, name: str, config: Mapping[str, Any]) -> Run:
        """The run `name`, created with `config` the first time. Reopening it with another
        config is refused: results computed under other settings must not be mixed."""
        if not name:
            raise ConfigurationError("name", "a run needs a name")
        wanted = _canonical(config)
        with self._lock:
            row = self._db.execute("SELECT config FROM runs WHERE name = ?", (name,)).fetchone()
            if row is None:
                self._db.execute(
                    "INSERT INTO runs (name, config, created) VALUES (?, ?, ?)",
                    (name, wanted, time.time()),
                )
            elif row[0] != wanted:
                raise ConfigurationError(
                    "config",
                    f"run {name!r} in {self.path} was made with another config: "
                    f"stored {row[0]}, given {wanted}; use another run name or store",
                )
        return Run(self, name, json.loads(wanted))

    def runs(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT name, config FROM runs ORDER BY created").fetchall()
        return {name: json.loads(config) for name, config in rows}

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- rows -----------------------------------------------------------------------------

    def _get(self, run: str, item: str, kind: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT payload FROM results WHERE run = ? AND item = ? AND kind = ?",
                (run, item, kind),
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def _put(self, run: str, item: str, kind: str, payload: Mapping[str, Any]) -> bool:
        text = _canonical(payload)
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO results (run, item, kind, payload, created) "
                "VALUES (?, ?, ?, ?, ?)",
                (run, item, kind, text, time.time()),
            )
        return cursor.rowcount == 1

    def _rows(self, run: str, kind: str | None) -> list[tuple[str, str, dict[str, Any]]]:
        query = "SELECT item, kind, payload FROM results WHERE run = ?"
        args: tuple[str, ...] = (run,)
        if kind is not None:
            query += " AND kind = ?"
            args = (run, kind)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY rowid", args).fetchall()
        return [(item, k, dict(json.loads(payload))) for item, k, payload in rows]


class Run:
    """The results of one named run in a `ResultStore`."""

    def __init__(self, store: ResultStore, name: str, config: dict[str, Any]) -> None:
        self.store = store
        self.name = name
        self.config = config

    def get(self, item: str, kind: str) -> dict[str, Any] | None:
        return self.store._get(self.name, item, kind)

    def put(self, item: str, kind: str, payload: Mapping[str, Any]) -> bool:
        """Store a result; False (and nothing written) when that (item, kind) already exists."""
        return self.store._put(self.name, item, kind, payload)

    def compute(self, item: str, kind: str, fn: Callable[[], Mapping[str, Any]]) -> dict[str, Any]:
        """The stored result, or `fn()` computed now and stored before it is returned."""
        stored = self.get(item, kind)
        if stored is not None:
            return stored
        payload = dict(fn())
        self.put(item, kind, payload)
        return payload

    def done(self, kind: str) -> set[str]:
        return {item for item, _, _ in self.store._rows(self.name, kind)}

    def rows(self, kind: str | None = None) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(item, kind, payload) in the order they were written."""
        yield from self.store._rows(self.name, kind)

    def table(self, kind: str) -> dict[str, dict[str, Any]]:
        return {item: payload for item, _, payload in self.store._rows(self.name, kind)}

    def __len__(self) -> int:
        return len(self.store._rows(self.name, None))


@contextlib.contextmanager
def stored_run(path: str | Path, name: str) -> Iterator[Run]:
    """The run `name` of the existing store at `path` (open while in the block);
    `ConfigurationError` when there is no such file or run (naming the runs there)."""
    if not Path(path).exists():
        raise ConfigurationError("store", f"{path} does not exist")
    with ResultStore(path) as store:
        runs = store.runs()
        if name not in runs:
            raise ConfigurationError("run", f"no run {name!r} in {path}: {sorted(runs)}")
        yield store.run(name, runs[name])

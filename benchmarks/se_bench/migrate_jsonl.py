"""One-off: move the semantic-entropy benchmark's JSONL results into its SQLite store.

    python benchmarks/se_bench/migrate_jsonl.py [JSONL ...] [--results-dir DIR]

Each `<run name>.jsonl` (default: every one in --results-dir, the committed
benchmarks/results/semantic_entropy) becomes the run of that name in
`<results-dir>/semantic_entropy.sqlite`, its config parsed from the name; each line one result
of kind `item`, in the file's order. The old store read the file the same way: a line left
unfinished by an interrupted write is skipped, and when an id repeats, the last record counts
at the first one's place. Items the run already holds are left as they are (a rerun adds
nothing). Afterwards every record is read back from the store and compared with the file;
the JSONL files are not touched (delete them once the store is committed).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from confidence_router.evaluation import ResultStore
from se_bench.store import ITEM, STORE_NAME, config_of

COMMITTED = Path(__file__).resolve().parents[1] / "results" / "semantic_entropy"


def read_jsonl(path: Path) -> dict[str, dict[str, Any]]:
    """The records of one old JSONL store by id, as it read them."""
    records: dict[str, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # the line an interrupted run left unfinished
            continue
        records[record["id"]] = record
    return records


def migrate(paths: Sequence[Path], store_path: Path) -> dict[str, tuple[int, int]]:
    """Copy each file into its run; {run: (records in the file, rows added)}; raises when a
    stored record differs from the file's."""
    counts: dict[str, tuple[int, int]] = {}
    with ResultStore(store_path) as store:
        for path in paths:
            name = path.name.removesuffix(".jsonl")
            run = store.run(name, config_of(name))
            records = read_jsonl(path)
            added = sum(run.put(item, ITEM, record) for item, record in records.items())
            stored = run.table(ITEM)
            if list(stored) != list(records) or stored != records:
                raise SystemExit(f"{name}: the store does not hold exactly the file's records")
            counts[name] = (len(records), added)
    return counts


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("jsonl", nargs="*", type=Path, help="default: every *.jsonl there")
    parser.add_argument("--results-dir", type=Path, default=COMMITTED)
    args = parser.parse_args(argv)
    paths = args.jsonl or sorted(args.results_dir.glob("*.jsonl"))
    if not paths:
        raise SystemExit(f"no JSONL results in {args.results_dir}")
    store_path = args.results_dir / STORE_NAME
    for name, (n, added) in migrate(paths, store_path).items():
        print(f"{name}: {n} records in the file, {added} added, all {n} verified in {store_path}")


if __name__ == "__main__":
    main()

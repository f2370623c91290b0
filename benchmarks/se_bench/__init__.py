"""The pieces of `benchmarks/semantic_entropy.py`: `common` (constants, timing, tables),
`store` (its runs in the shared `ResultStore`), `cost` (part a), `quality` (part b), `staged`
(part c) and `migrate_jsonl` (the one-off move of the old JSONL results into the store)."""

"""Where the benchmark's per-item results live: runs in the shared SQLite `ResultStore`.

One store file per results folder (`semantic_entropy.sqlite`); one run per edge model, dtype,
data set, number of samples, token cap and prompt version, named as the JSONL files before it
were (`qwen2.5-coder-0.5b-instruct_float32_mmlu_n5_t32_p2`); one result of kind `item` per
question, the same JSON object those files held. Cost measurements stay small JSON files.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from confidence_router.evaluation import ResultStore, Run

STORE_NAME = "semantic_entropy.sqlite"
ITEM = "item"
PROMPT_VERSION = "p2"  # bump when the prompts change: results are stored per version
_NAME = re.compile(
    r"^(?P<model>.+)_(?P<dtype>bfloat16|float32|float16)_(?P<dataset>[a-z0-9_]+?)"
    r"_n(?P<samples>\d+)_t(?P<tokens>\d+)_(?P<version>p\d+)$"
)


def run_config(
    model: str, dtype: str, dataset: str, samples: int, tokens: int, version: str = PROMPT_VERSION
) -> dict[str, Any]:
    """What a run's results depend on (`ResultStore` refuses to mix two configs in one run)."""
    return {
        "benchmark": "semantic_entropy",
        "model": Path(model).name.removesuffix(".gguf"),
        "dtype": dtype,
        "dataset": dataset,
        "samples": samples,
        "max_new_tokens": tokens,
        "prompt_version": version,
    }


def run_name(config: dict[str, Any]) -> str:
    """`<model>_<dtype>_<dataset>_n<samples>_t<tokens>_<prompt version>`."""
    return (
        f"{config['model']}_{config['dtype']}_{config['dataset']}_n{config['samples']}"
        f"_t{config['max_new_tokens']}_{config['prompt_version']}"
    )


def config_of(name: str) -> dict[str, Any]:
    """The config a run name stands for (the inverse of `run_name`)."""
    match = _NAME.match(name)
    if match is None:
        raise ValueError(f"{name!r} is not a semantic-entropy run name")
    config = run_config(
        match["model"],
        match["dtype"],
        match["dataset"],
        int(match["samples"]),
        int(match["tokens"]),
        match["version"],
    )
    assert run_name(config) == name, (name, config)
    return config


def open_store(results: Path, *, create: bool) -> ResultStore | None:
    """`results`' store; None when there is none and not `create` (reporting writes nothing)."""
    path = results / STORE_NAME
    if not create and not path.exists():
        return None
    return ResultStore(path)


def get_run(store: ResultStore | None, config: dict[str, Any], *, create: bool) -> Run | None:
    """The run for `config`; None when it is not stored and not `create`."""
    if store is None:
        return None
    name = run_name(config)
    if not create and name not in store.runs():
        return None
    return store.run(name, config)


def records(run: Run | None, wanted: set[str]) -> list[dict[str, Any]]:
    """The stored records of the `wanted` items, in the order they were stored."""
    if run is None:
        return []
    return [record for item, record in run.table(ITEM).items() if item in wanted]

"""`confidence-router eval` and `confidence-router report`."""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Sequence
from pathlib import Path

from confidence_router.errors import ConfigurationError
from confidence_router.evaluation.data import (
    EvalItem,
    load_gsm8k,
    load_mmlu,
    load_mt_bench,
    load_prompts,
)
from confidence_router.models.base import ChatBackend
from confidence_router.uncertainty import EQUIVALENCES, ESTIMATORS, Estimator, get_equivalence

DEFAULT_ESTIMATORS = (
    "max_sequence_probability",
    "perplexity",
    "mean_token_entropy",
    "semantic_entropy",
)


def estimators_from(names: Sequence[str], equivalence: str | None) -> list[Estimator | str]:
    """The estimators a command names (registered names, left as names when `equivalence` is
    None); with `equivalence` (a registered name), one instance of it clusters for every
    estimator that takes an `equivalence`, and at least one must."""
    if equivalence is None:
        return list(names)
    shared = get_equivalence(equivalence)
    out: list[Estimator | str] = []
    for name in names:
        cls = ESTIMATORS.lookup(name)
        takes = "equivalence" in inspect.signature(cls).parameters
        out.append(cls(equivalence=shared) if takes else name)  # type: ignore[call-arg]
    if all(isinstance(e, str) for e in out):
        raise ConfigurationError(
            "equivalence", f"none of the estimators {list(names)} clusters answers"
        )
    return out


def add_estimator_options(parser: argparse.ArgumentParser, *, many: bool) -> None:
    """`--estimators NAME...` (`many`) or `--estimator NAME`, and `--equivalence NAME`: choices
    from the registries, so registered extensions are accepted by name."""
    if many:
        parser.add_argument(
            "--estimators",
            nargs="+",
            default=list(DEFAULT_ESTIMATORS),
            choices=ESTIMATORS,
            metavar="NAME",
            help=f"registered estimator names (default: {' '.join(DEFAULT_ESTIMATORS)})",
        )
    else:
        parser.add_argument(
            "--estimator",
            default="max_sequence_probability",
            choices=ESTIMATORS,
            metavar="NAME",
            help="a registered estimator name (default: max_sequence_probability)",
        )
    parser.add_argument(
        "--equivalence",
        choices=EQUIVALENCES,
        metavar="NAME",
        help="a registered equivalence, built with its defaults, for the estimators that "
        "cluster answers (default: chosen per request)",
    )


def add_edge_options(parser: argparse.ArgumentParser) -> None:
    """`--edge-model` and `--edge-runtime`, as every command that loads an edge takes them."""
    parser.add_argument("--edge-model", help="bundled name, GGUF file or HF folder")
    parser.add_argument(
        "--edge-runtime",
        choices=["auto", "llama_cpp", "transformers"],
        default="auto",
        help="in-process runtime of the edge (auto: llama.cpp when installed)",
    )


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ev = sub.add_parser("eval", help="evaluate edge, cloud and estimators on data sets")
    ev.add_argument(
        "--data",
        nargs="+",
        required=True,
        help="gsm8k:<split>:<n>, mmlu:<split>:<n>, mt_bench::<n>, or a .jsonl/.csv file",
    )
    ev.add_argument(
        "--datasets",
        help="the data folder (default: $CONFIDENCE_ROUTER_DATASETS, else ../shared/datasets)",
    )
    ev.add_argument("--seed", type=int, default=0, help="sampling seed for the items")
    add_edge_options(ev)
    ev.add_argument("--edge-dtype", default="bfloat16", help="transformers runtime only")
    ev.add_argument("--cloud-base-url", help="OpenAI-compatible URL (default: local server)")
    ev.add_argument("--cloud-model", help="cloud model name (or bundled name / GGUF path)")
    add_estimator_options(ev, many=True)
    ev.add_argument("--store", type=Path, default=Path("eval.sqlite"))
    ev.add_argument("--run", help="run name (default: from the models)")
    ev.add_argument("--out", type=Path, help="also write the report here")
    ev.add_argument(
        "--reuse-cloud",
        metavar="RUN",
        help="take cloud answers another run in the same store stored for the same items (it "
        "must have been made with the same cloud model and settings)",
    )
    ev.add_argument(
        "--edge-only",
        action="store_true",
        help="no cloud: store the edge's answers, scores and grades (GSM8K/MMLU only), e.g. "
        "a hidden-state probe's training or test data",
    )
    ev.add_argument(
        "--hidden-states",
        action="store_true",
        help="also store the greedy answer's hidden states (float16) for train-probe",
    )
    rep = sub.add_parser("report", help="Markdown report and PNG plots from a stored run")
    rep.add_argument("--store", type=Path, required=True)
    rep.add_argument("--run", required=True)
    rep.add_argument("--out", type=Path, required=True)
    rep.add_argument(
        "--by",
        nargs="*",
        default=["gsm8k/", "mmlu/", "mt_bench/"],
        help="item-id prefixes reported apart (plus all items together)",
    )


def items_from(specs: list[str], root: str | None, seed: int) -> list[EvalItem]:
    items: list[EvalItem] = []
    for spec in specs:
        if Path(spec).suffix in (".jsonl", ".csv", ".gz") and Path(spec).exists():
            items += load_prompts(spec)
            continue
        name, _, rest = spec.partition(":")
        split, _, count = rest.partition(":")
        n = int(count) if count else None
        if name == "gsm8k":
            items += load_gsm8k(split or "test", n, seed=seed, root=root)
        elif name == "mmlu":
            items += load_mmlu(split or "test", n, seed=seed, root=root)
        elif name == "mt_bench":
            items += load_mt_bench(n, seed=seed, root=root)
        else:
            raise ConfigurationError("data", f"unknown data set {spec!r}")
    return items


def _load_edge(args: argparse.Namespace) -> tuple[ChatBackend, dict[str, object]]:
    """The edge the arguments name, and the settings its results depend on."""
    from confidence_router.models.bundled import DEFAULT_EDGE
    from confidence_router.models.default_edge import default_runtime

    runtime = default_runtime() if args.edge_runtime == "auto" else args.edge_runtime
    settings: dict[str, object] = {"edge_runtime": runtime}
    if runtime == "transformers":
        from confidence_router.models.transformers import TransformersModel

        settings["edge_dtype"] = args.edge_dtype
        return TransformersModel(args.edge_model or DEFAULT_EDGE, dtype=args.edge_dtype), settings
    from confidence_router.models.llama_cpp import LlamaCppModel

    return LlamaCppModel(args.edge_model or DEFAULT_EDGE), settings


def _run_edge_only(
    args: argparse.Namespace,
    items: list[EvalItem],
    edge: ChatBackend,
    settings: dict[str, object],
) -> None:
    from confidence_router.evaluation.job import edge_config, evaluate_edge
    from confidence_router.evaluation.store import ResultStore
    from confidence_router.models.bundled import DEFAULT_EDGE
    from confidence_router.routing.policy import RoutingPolicy
    from confidence_router.uncertainty.probe import model_hash

    first, *extra = estimators_from(args.estimators, args.equivalence)
    policy = RoutingPolicy.build(edge, estimator=first, extra_estimators=extra)
    if args.equivalence:
        settings["equivalence"] = args.equivalence
    if args.hidden_states:  # a probe trained on these states is for these weights only
        settings["edge_sha256"] = model_hash(edge)
    config = edge_config(
        edge,
        policy,
        data=args.data,
        seed=args.seed,
        edge_only=True,
        hidden_states=args.hidden_states,
        edge_spec=args.edge_model or DEFAULT_EDGE,
        **settings,
    )
    with ResultStore(args.store) as store:
        run = store.run(args.run or f"{edge.model_name}__edge", config)
        evaluate_edge(run, items, edge, policy, states=args.hidden_states)


def run_eval(args: argparse.Namespace) -> None:
    from confidence_router.demo import _cloud
    from confidence_router.evaluation.job import check_gradable, evaluate, run_config
    from confidence_router.evaluation.judge import Judge
    from confidence_router.evaluation.report import write_report
    from confidence_router.evaluation.store import ResultStore
    from confidence_router.models.bundled import DEFAULT_EDGE
    from confidence_router.routing import CascadeRouter

    if args.hidden_states and not args.edge_only:
        raise ConfigurationError("hidden_states", "is stored by edge-only runs (--edge-only)")
    if args.edge_only and (args.out or args.reuse_cloud):
        raise ConfigurationError("edge_only", "takes neither --out nor --reuse-cloud (no cloud)")
    items = items_from(args.data, args.datasets, args.seed)
    if args.edge_only:  # refused before the run is stored under its name
        check_gradable(items)
    edge, edge_settings = _load_edge(args)
    if args.edge_only:
        try:
            _run_edge_only(args, items, edge, edge_settings)
        finally:
            edge.close()
        return
    with _cloud(args.cloud_base_url, args.cloud_model, sys.stderr) as cloud:
        first, *extra = estimators_from(args.estimators, args.equivalence)
        router = CascadeRouter(edge, cloud, estimator=first, extra_estimators=extra)
        if args.equivalence:  # only then: runs made before this option keep their config
            edge_settings["equivalence"] = args.equivalence
        config = run_config(
            router,
            data=args.data,
            seed=args.seed,
            **edge_settings,
            edge_spec=args.edge_model or DEFAULT_EDGE,
            cloud_spec=args.cloud_model,
            cloud_base_url=args.cloud_base_url,
            **({"reuse_cloud": args.reuse_cloud} if args.reuse_cloud else {}),
        )
        name = args.run or f"{edge.model_name}__{cloud.model_name}"
        with ResultStore(args.store) as store:
            run = store.run(name, config)
            reuse = None
            if args.reuse_cloud:
                runs = store.runs()
                if args.reuse_cloud not in runs:
                    raise ConfigurationError("reuse_cloud", f"no run {args.reuse_cloud!r}")
                other = runs[args.reuse_cloud]
                if (other.get("cloud"), other.get("cloud_base_url")) != (
                    cloud.model_name,
                    args.cloud_base_url,
                ):
                    raise ConfigurationError(
                        "reuse_cloud", f"run {args.reuse_cloud!r} used another cloud: {other}"
                    )
                reuse = store.run(args.reuse_cloud, other)
            judge = Judge(cloud) if any(i.dataset not in ("gsm8k", "mmlu") for i in items) else None
            evaluate(run, items, router, judge=judge, reuse_cloud=reuse)
            if args.out:
                print(
                    write_report(run, args.out, [None, *sorted({i.dataset + "/" for i in items})])
                )


def run_report(args: argparse.Namespace) -> None:
    from confidence_router.evaluation.report import write_report
    from confidence_router.evaluation.store import stored_run

    with stored_run(args.store, args.run) as run:
        done = run.done("grade")
        prefixes = [p for p in args.by if any(i.startswith(p) for i in done)]
        print(write_report(run, args.out, [None, *prefixes] if len(prefixes) > 1 else [None]))

"""`confidence-router train`: a predictive router from a battles file; `train-probe`: a
hidden-state probe (learned confidence) on the edge's own answers."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from confidence_router.training.probe_data import ProbeData


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from confidence_router.routers import ROUTERS

    tr = sub.add_parser("train", help="train a predictive router on a battles file")
    tr.add_argument("--battles", type=Path, required=True, help="RouteLLM battles, .csv/.jsonl")
    tr.add_argument(
        "--router",
        default="sw_ranking",
        choices=ROUTERS,  # the registry itself: routers registered later are choices too
        help="a registered router kind",
    )
    tr.add_argument("--out", type=Path, required=True, help="path stem of the saved router")
    tr.add_argument("--tau", type=float, help="the SE margin the labels were made with")
    tr.add_argument("--labels", default="semantic_entropy", help="how the battles were labelled")
    add_probe_command(sub)


def add_probe_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from confidence_router.evaluation.commands import add_edge_options
    from confidence_router.uncertainty import EQUIVALENCES

    tp = sub.add_parser(
        "train-probe", help="train a hidden-state probe (learned confidence) for an edge model"
    )
    source = tp.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--data",
        type=Path,
        help="JSONL rows: 'prompt' (or 'question' / 'messages') and 'label' (1: acceptable); "
        "the edge answers them here",
    )
    source.add_argument(
        "--store",
        type=Path,
        help="an evaluation store holding an edge-only run with hidden states (--run)",
    )
    tp.add_argument("--run", help="the run in --store (`eval --edge-only --hidden-states`)")
    tp.add_argument("--prefix", default="", help="with --store: only item ids starting so")
    tp.add_argument("--out", type=Path, required=True, help="path stem of the saved probe")
    add_edge_options(tp)
    tp.add_argument(
        "--layers",
        type=int,
        nargs="+",
        default=[-1],
        help="candidate layers (-1: the last; others need the transformers runtime)",
    )
    tp.add_argument(
        "--samples",
        type=int,
        default=0,
        help="draw N samples per prompt for the low_se target (label: SE below the median)",
    )
    tp.add_argument("--equivalence", choices=EQUIVALENCES, help="how samples are clustered")
    tp.add_argument("--max-new-tokens", type=int, default=256)
    tp.add_argument("--seed", type=int, default=0, help="sampling and split seed")
    tp.add_argument("--holdout", type=float, default=0.25, help="share of rows held out")


def run_train(args: argparse.Namespace) -> None:
    from confidence_router.embeddings import MiniLMEmbedder
    from confidence_router.training.labels import read_battles
    from confidence_router.training.train import train_router

    embedder = MiniLMEmbedder()
    router = train_router(
        read_battles(args.battles),
        args.router,
        embedder,
        embedding_model=embedder.key,
        tau=args.tau,
        labels=args.labels,
    )
    print(router.save(args.out))


def _stored_data(args: argparse.Namespace, model_sha256: str) -> ProbeData:
    """The `ProbeData` of an edge-only run stored with hidden states by the same weights."""
    from confidence_router.errors import ConfigurationError
    from confidence_router.evaluation.store import stored_run
    from confidence_router.training.probe_data import probe_data_from_run

    if not args.run:
        raise ConfigurationError("run", "--store needs --run")
    with stored_run(args.store, args.run) as run:
        if not run.config.get("hidden_states"):
            raise ConfigurationError("run", f"run {args.run!r} was stored without hidden states")
        if run.config.get("edge_sha256") != model_sha256:
            raise ConfigurationError(
                "edge_model", f"run {args.run!r} was made by other weights ({run.config['edge']})"
            )
        return probe_data_from_run(run, prefix=args.prefix)[1]


def _check_sources(args: argparse.Namespace) -> None:
    """Refuses flags the chosen data source would silently ignore."""
    from confidence_router.errors import ConfigurationError

    if args.store is not None:
        generating = {"--layers": args.layers != [-1], "--samples": args.samples != 0,
                      "--equivalence": args.equivalence is not None,
                      "--max-new-tokens": args.max_new_tokens != 256}  # fmt: skip
        given = [flag for flag, changed in generating.items() if changed]
        if given:
            raise ConfigurationError(
                "store", f"the run's answers are stored: {', '.join(given)} would be ignored"
            )
    elif args.run or args.prefix:
        raise ConfigurationError("run", "--run and --prefix read a --store")


def run_train_probe(args: argparse.Namespace) -> None:
    import json
    import sys

    from confidence_router.models import load_edge
    from confidence_router.training.probe import save_probe, train_probe
    from confidence_router.training.probe_data import collect_probe_data, read_probe_rows
    from confidence_router.uncertainty.probe import model_hash

    _check_sources(args)
    edge = load_edge(args.edge_model, args.edge_runtime)
    sha = model_hash(edge)

    def progress(done: int, total: int) -> None:
        print(f"\rgenerated {done}/{total}", end="", file=sys.stderr, flush=True)

    try:
        if args.store is not None:
            data = _stored_data(args, sha)
        else:
            data = collect_probe_data(
                edge,
                read_probe_rows(args.data),
                layers=args.layers,
                num_samples=args.samples,
                equivalence=args.equivalence,
                max_new_tokens=args.max_new_tokens,
                seed=args.seed,
                progress=progress,
            )
            print(file=sys.stderr)
        probe = train_probe(
            data.features,
            data.labels,
            model_sha256=sha,
            model_name=edge.model_name,
            holdout=args.holdout,
            seed=args.seed,
        )
    finally:
        edge.close()
    path = save_probe(probe, args.out)
    summary = {k: probe.meta[k] for k in ("heldout_auroc", "selected_on", "n_train", "l2")}
    summary.update(source=probe.source, target=probe.target, layer=probe.layer)
    print(json.dumps(summary, indent=2))
    print(path)

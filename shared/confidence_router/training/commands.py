"""`confidence-router train`: a predictive router from a battles file."""

from __future__ import annotations

import argparse
from pathlib import Path


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

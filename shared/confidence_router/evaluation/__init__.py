"""Evaluation: the result store and runner every long job shares, and router curves/metrics."""

from confidence_router.evaluation.curves import Curve, oracle_curve, random_curve, router_curve
from confidence_router.evaluation.data import (
    EvalItem,
    Grade,
    datasets_root,
    grade,
    load_gsm8k,
    load_mmlu,
    load_mt_bench,
    load_prompts,
)
from confidence_router.evaluation.judge import Judge, Verdict, parse_best, parse_rating
from confidence_router.evaluation.report import ExtraRouter
from confidence_router.evaluation.runner import Stage, run_stages
from confidence_router.evaluation.store import ResultStore, Run

__all__ = [
    "Curve",
    "EvalItem",
    "ExtraRouter",
    "Grade",
    "Judge",
    "ResultStore",
    "Run",
    "Stage",
    "Verdict",
    "datasets_root",
    "grade",
    "load_gsm8k",
    "load_mmlu",
    "load_mt_bench",
    "load_prompts",
    "oracle_curve",
    "parse_best",
    "parse_rating",
    "random_curve",
    "router_curve",
    "run_stages",
]

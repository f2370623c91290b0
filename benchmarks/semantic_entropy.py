"""Semantic entropy: what it costs, how well each estimator ranks answers, what staging saves.

Three tables (issue 3, item 6):

(a) Cost, on the default edge (SmolLM2-135M-Instruct) in its default dtype (float32), in one
    process: wall time of SE sampling with N samples batched with the greedy answer (one
    `generate`, the prompt prefilled once) vs one greedy generation of the same length (EOS off,
    so every row decodes exactly --cost-tokens tokens); the samples-only call that staged
    escalation makes; sequential sampling (greedy + N one-sample calls); entailment (clustering
    the N samples with the default equivalence) timed apart. Prints `se_cost_ratio=<batched /
    greedy>` (target <= 2.0) and `batched_vs_sequential=<batched / sequential>`.
(b) Quality, on the graded-gap edge (Qwen2.5-Coder-0.5B-Instruct): every estimator's AUROC and
    PRR of confidence against the correctness of the greedy answer, on --mmlu MMLU validation and
    --gsm8k GSM8K train questions (GSM8K capped at 256 new tokens), the edge's accuracy beside
    them, all with bootstrap 95% intervals (`confidence_router.metrics`).
(c) Staged escalation and early exit, replayed offline from (b)'s records (the greedy call of
    (b) is exactly the staged router's first call, its samples-only call the second, and early
    exit is a deterministic function of the greedy log-probs): share of requests that needed SE,
    greedy/edge tokens saved, edge cost relative to always-SE, each with its AUROC, and the
    smallest SE share whose AUROC is within --auroc-tolerance of always-SE's.

Cost in (c): per request, the measured wall time of the greedy call (t_g) and of the
samples-only call (t_s). Always-SE is the unstaged router's single batched call, estimated as
t_g x (batched / greedy) measured on the same model at fixed length (stored as
cost_<model>.json); staged = t_g + t_s inside the band; an early exit after k of L greedy tokens
costs k / L of its call (no samples).

Resumable: each item's result is appended to a JSONL file under --results-dir as soon as it is
computed; a rerun with the same settings skips the items already there (delete the file to
start over); cost measurements are kept as JSON (--redo-cost measures again). `--report-only`
prints the tables from stored results without loading a model. `confidence_router.evaluation`
(the shared runner and store) does not exist yet, so the store here is a small self-contained one.

Data: MMLU and GSM8K from ../shared/datasets (next to the repository; see its README), or
--datasets / $CONFIDENCE_ROUTER_DATASETS.
"""

from __future__ import annotations

import argparse
import csv
import gc
import gzip
import json
import math
import os
import random
import statistics
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

from confidence_router.errors import ConfidenceRouterError
from confidence_router.generation import Generation, GenerationOptions
from confidence_router.messages import ChatMessage, normalize_messages
from confidence_router.metrics import Interval, accuracy, auroc, bootstrap, prr
from confidence_router.routing.calibration import band_for_share
from confidence_router.uncertainty import (
    Estimator,
    LexicalSimilarity,
    MaxSequenceProbability,
    MeanTokenEntropy,
    NumSemanticSets,
    Perplexity,
    PTrue,
    RequestStatistics,
    SemanticEntropy,
    exit_point,
)
from confidence_router.uncertainty.equivalence.answer import extract_choice, extract_number
from confidence_router.uncertainty.running_confidence import RunningConfidence

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATASETS = REPO.parent / "shared" / "datasets"
DEFAULT_RESULTS = REPO / "benchmarks" / "out" / "semantic_entropy"
PROMPT_VERSION = "p2"  # bump when the prompts change: results are stored per version
COST_PROMPTS = [
    "What is the capital of France?",
    "Explain photosynthesis briefly.",
    "Write a limerick about a cat.",
    "What are the three states of matter?",
]
MMLU_PROMPT = (
    "{question}\n\n{options}\n\nReply with only the letter (A, B, C or D) of the correct "
    "option, nothing else."
)
GSM8K_PROMPT = (
    "{question}\n\nSolve it step by step, then give the final answer as a number on the last "
    'line, in the form "#### <number>".'
)
SE = "semantic_entropy"
MSP = "max_sequence_probability"


# -- data ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    id: str
    dataset: str
    prompt: str
    gold: str
    max_new_tokens: int


def datasets_root(value: str | None) -> Path:
    root = Path(value or os.environ.get("CONFIDENCE_ROUTER_DATASETS") or DEFAULT_DATASETS)
    if not (root / "mmlu").is_dir() or not (root / "gsm8k").is_dir():
        sys.exit(
            f"no mmlu/ and gsm8k/ under {root}: pass --datasets or set CONFIDENCE_ROUTER_DATASETS"
        )
    return root


def load_mmlu(root: Path, n: int, seed: int, max_new_tokens: int) -> list[Item]:
    """n questions drawn (seeded) from all 57 subjects of the validation split."""
    items: list[Item] = []
    for path in sorted((root / "mmlu" / "val").glob("*_val.csv.gz")):
        subject = path.name.removesuffix("_val.csv.gz")
        with gzip.open(path, "rt", newline="") as f:
            for row_no, row in enumerate(csv.reader(f)):
                question, *choices, answer = row
                options = "\n".join(f"{L}. {c}" for L, c in zip("ABCD", choices, strict=True))
                prompt = MMLU_PROMPT.format(question=question, options=options)
                items.append(
                    Item(
                        f"mmlu/val/{subject}/{row_no}",
                        "mmlu",
                        prompt,
                        answer.strip(),
                        max_new_tokens,
                    )
                )
    random.Random(seed).shuffle(items)
    return items[:n]


def load_gsm8k(root: Path, n: int, seed: int, max_new_tokens: int) -> list[Item]:
    """n questions drawn (seeded) from the train split; gold = the number after ####."""
    items: list[Item] = []
    with gzip.open(root / "gsm8k" / "train.jsonl.gz", "rt") as f:
        for line_no, line in enumerate(f):
            row = json.loads(line)
            gold = extract_number(row["answer"].split("####")[-1])
            prompt = GSM8K_PROMPT.format(question=row["question"])
            items.append(
                Item(f"gsm8k/train/{line_no}", "gsm8k", prompt, gold or "", max_new_tokens)
            )
    random.Random(seed).shuffle(items)
    return items[:n]


def is_correct(item: Item, text: str) -> tuple[bool, str | None]:
    predicted = extract_choice(text) if item.dataset == "mmlu" else extract_number(text)
    return predicted is not None and predicted == item.gold, predicted


# -- the store -----------------------------------------------------------------------------------


class ResultStore:
    """Append-only JSONL of per-item results keyed by `id`; a rerun skips what is there."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[str, dict[str, Any]] = {}
        text = path.read_text() if path.exists() else ""
        self._cut_tail = bool(text) and not text.endswith("\n")  # an interrupted write
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # the line an interrupted run left unfinished
                continue
            self.records[record["id"]] = record

    def add(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            if self._cut_tail:
                f.write("\n")
                self._cut_tail = False
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.records[record["id"]] = record


def run_name(model: str, dataset: str, args: argparse.Namespace, tokens: int) -> str:
    stem = Path(model).name.removesuffix(".gguf")
    return f"{stem}_{args.dtype}_{dataset}_n{args.samples}_t{tokens}_{PROMPT_VERSION}.jsonl"


# -- (a) cost ------------------------------------------------------------------------------------


def timed(fn: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def sequential(edge: Any, msgs: list[ChatMessage], tokens: int, n: int, seed: int) -> None:
    """The greedy answer, then n one-sample calls (each prefills the prompt again)."""
    edge.generate(msgs, GenerationOptions(max_new_tokens=tokens, logprobs=True, entropy=True))
    for k in range(n):
        one = GenerationOptions(
            max_new_tokens=tokens, num_samples=1, samples_only=True, logprobs=True, seed=seed + k
        )
        edge.generate(msgs, one)


def cost_row(
    edge: Any, se: SemanticEntropy, prompt: str, tokens: int, n: int, seed: int, full: bool
) -> dict[str, float]:
    """Seconds of each call for one prompt (every row decodes exactly `tokens` tokens)."""
    msgs = normalize_messages(prompt)
    greedy = GenerationOptions(max_new_tokens=tokens, logprobs=True, entropy=True)
    batched = greedy.model_copy(update={"num_samples": n, "seed": seed})
    samples_only = GenerationOptions(
        max_new_tokens=tokens, num_samples=n, samples_only=True, logprobs=True, seed=seed
    )
    row: dict[str, float] = {}
    row["greedy"], _ = timed(edge.generate, msgs, greedy)
    row["batched"], gen = timed(edge.generate, msgs, batched)
    row["samples_only"], _ = timed(edge.generate, msgs, samples_only)
    if full:
        row["sequential"], _ = timed(sequential, edge, msgs, tokens, n, seed)
        try:
            row["entailment"], _ = timed(se.confidence, RequestStatistics(msgs, gen))
        except ConfidenceRouterError as exc:  # e.g. no embedder installed
            print(f"entailment not timed: {exc}", file=sys.stderr)
            row["entailment"] = math.nan
    return row


def measure_cost(
    edge: Any, prompts: Sequence[str], tokens: int, rounds: int, n: int, *, full: bool
) -> dict[str, Any]:
    """Mean wall seconds per request of each way to get the greedy answer and n samples, every
    row decoding exactly `tokens` tokens (EOS off). Round 0 warms up and is not counted. `full`
    adds sequential sampling and entailment (the default SE equivalence on the samples)."""
    saved_end_ids = edge._end_ids
    edge._end_ids = [-1]
    se = SemanticEntropy(num_samples=n)
    times: dict[str, list[float]] = {}
    try:
        for round_no in range(rounds + 1):
            for i, prompt in enumerate(prompts):
                row = cost_row(edge, se, prompt, tokens, n, 1000 * round_no + i, full)
                print(
                    f"  cost round {round_no} prompt {i}: "
                    + " ".join(f"{k}={v:.2f}s" for k, v in row.items()),
                    file=sys.stderr,
                )
                if round_no:
                    for key, value in row.items():
                        times.setdefault(key, []).append(value)
    finally:
        edge._end_ids = saved_end_ids
    return {
        "model": edge.model_name,
        "tokens": tokens,
        "rounds": rounds,
        "prompts": len(prompts),
        "samples": n,
        **{f"{k}_s": statistics.fmean(v) for k, v in times.items()},
    }


def cost_file(results: Path, model: str, dtype: str, tokens: int, n: int) -> Path:
    return results / f"cost_{Path(model).name.removesuffix('.gguf')}_{dtype}_t{tokens}_n{n}.json"


def cached_cost(path: Path, redo: bool, measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    if path.exists() and not redo:
        return dict(json.loads(path.read_text()))
    result = measure()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    return result


def cost_table(cost: dict[str, Any]) -> None:
    g = cost["greedy_s"]
    n = cost["samples"]
    rows = [
        ("greedy (1 row)", cost["greedy_s"]),
        (f"batched greedy + {n} samples (1 call)", cost["batched_s"]),
        (f"samples only ({n} rows, staged 2nd call)", cost["samples_only_s"]),
        (f"sequential greedy + {n} x 1 sample", cost.get("sequential_s", math.nan)),
        (f"entailment (clustering {n} samples)", cost.get("entailment_s", math.nan)),
    ]
    print(
        f"\n(a) cost on {cost['model']}: {cost['tokens']} tokens per row, "
        f"{cost['prompts']} prompts x {cost['rounds']} rounds, mean s per request"
    )
    print_table(["call", "s", "x greedy"], [[name, f"{s:.3f}", f"{s / g:.2f}"] for name, s in rows])
    print(f"se_cost_ratio={cost['batched_s'] / g:.3f}")
    print(f"batched_vs_sequential={cost['batched_s'] / cost.get('sequential_s', math.nan):.3f}")
    print(f"entailment_s={cost.get('entailment_s', math.nan):.4f}")


# -- (b) quality ---------------------------------------------------------------------------------


def make_estimators(edge: Any, n: int) -> dict[str, Estimator]:
    """Every estimator, keyed by the column name. The SE variants and NumSemanticSets share the
    default equivalence (answer extraction here), so the samples are clustered once."""
    return {
        MSP: MaxSequenceProbability(),
        "perplexity": Perplexity(),
        "mean_token_entropy": MeanTokenEntropy(),
        SE: SemanticEntropy(num_samples=n),
        "semantic_entropy_weighted": SemanticEntropy(num_samples=n, form="weighted"),
        "semantic_entropy_eq2": SemanticEntropy(num_samples=n, formula="eq2"),
        "num_semantic_sets": NumSemanticSets(num_samples=n),
        "lexical_similarity": LexicalSimilarity(num_samples=n),
        "p_true": PTrue(edge),
    }


def run_item(edge: Any, item: Item, n: int, estimators: dict[str, Estimator]) -> dict[str, Any]:
    """The staged router's two edge calls (greedy; samples only), then every estimator."""
    msgs: list[ChatMessage] = normalize_messages(item.prompt)
    first = GenerationOptions(max_new_tokens=item.max_new_tokens, logprobs=True, entropy=True)
    t_greedy, greedy = timed(edge.generate, msgs, first)
    second = GenerationOptions(
        max_new_tokens=item.max_new_tokens,
        num_samples=n,
        samples_only=True,
        logprobs=True,
        seed=zlib.crc32(item.id.encode()),
    )
    t_samples, sampled = timed(edge.generate, msgs, second)
    generation = Generation(
        greedy=greedy.greedy, samples=sampled.samples, usage=greedy.usage + sampled.usage
    )
    stats = RequestStatistics(msgs, generation)
    scores: dict[str, float | None] = {}
    seconds: dict[str, float] = {}
    for name, estimator in estimators.items():
        try:
            seconds[name], scores[name] = timed(estimator.confidence, stats)
        except ConfidenceRouterError as exc:  # e.g. an empty greedy answer
            print(f"  {item.id}: {name} failed: {exc}", file=sys.stderr)
            scores[name] = None
    se = estimators[SE]
    assert isinstance(se, SemanticEntropy)
    try:
        equivalence = se.equivalence_for(msgs[-1].content, se.sample_texts(stats)).key
    except ConfidenceRouterError:
        equivalence = None
    correct, predicted = is_correct(item, greedy.greedy.text)
    return {
        "id": item.id,
        "dataset": item.dataset,
        "gold": item.gold,
        "predicted": predicted,
        "correct": int(correct),
        "greedy_text": greedy.greedy.text,
        "greedy_tokens": greedy.greedy.num_tokens,
        "greedy_logprobs": [round(lp, 6) for lp in greedy.greedy.token_logprobs],
        "sample_tokens": sum(s.num_tokens for s in sampled.samples),
        "prompt_tokens": greedy.usage.input_tokens,
        "t_greedy": t_greedy,
        "t_samples": t_samples,
        "t_estimators": seconds,
        "equivalence": equivalence,
        "scores": scores,
    }


def run_dataset(edge: Any, items: Sequence[Item], store: ResultStore, n: int) -> None:
    estimators = make_estimators(edge, n)
    todo = [item for item in items if item.id not in store.records]
    print(
        f"{items[0].dataset}: {len(items) - len(todo)} done, {len(todo)} to go -> {store.path}",
        file=sys.stderr,
    )
    for k, item in enumerate(todo, 1):
        start = time.perf_counter()
        record = run_item(edge, item, n, estimators)
        store.add(record)
        print(
            f"  [{item.dataset} {k}/{len(todo)}] {time.perf_counter() - start:.1f}s "
            f"correct={record['correct']} tokens={record['greedy_tokens']}",
            file=sys.stderr,
        )


def usable(records: Iterable[dict[str, Any]], names: Sequence[str]) -> list[dict[str, Any]]:
    """Records where every named score exists (a failed estimator leaves None)."""
    return [r for r in records if all(r["scores"].get(k) is not None for k in names)]


def interval(metric: Callable[..., float], c: Any, y: Any, args: argparse.Namespace) -> Interval:
    return bootstrap(metric, c, y, resamples=args.resamples, seed=args.seed)


def quality_table(dataset: str, records: list[dict[str, Any]], args: argparse.Namespace) -> None:
    y = np.array([r["correct"] for r in records], dtype=float)
    acc = interval(accuracy, y, y, args)
    print(f"\n(b) {dataset}: n={len(records)}, edge accuracy {acc}")
    rows = []
    for name in records[0]["scores"]:
        kept = usable(records, [name])
        c = np.array([r["scores"][name] for r in kept])
        yk = np.array([r["correct"] for r in kept], dtype=float)
        extra = statistics.fmean(r["t_estimators"].get(name, 0.0) for r in kept)
        if name not in (MSP, "perplexity", "mean_token_entropy", "p_true"):
            extra += statistics.fmean(r["t_samples"] for r in kept)
        rows.append(
            [
                name,
                str(len(kept)),
                str(interval(auroc, c, yk, args)),
                str(interval(prr, c, yk, args)),
                f"{extra:.2f}",
            ]
        )
    print_table(["estimator", "n", "AUROC [95% CI]", "PRR [95% CI]", "extra s/req"], rows)


# -- (c) staged escalation and early exit --------------------------------------------------------


def staged_scores(
    cheap: np.ndarray, full: np.ndarray, band: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """The staged router's ranking: answers kept by the cheap stage above every full-stage one,
    answers escalated by it below (each group ordered by its own score); and the in-band mask."""
    low, high = band
    in_band = (cheap >= low) & (cheap < high)
    score = np.where(cheap >= high, 2.0 + cheap, np.where(cheap < low, -2.0 + cheap, full))
    return score, in_band


def staged_table(
    dataset: str, records: list[dict[str, Any]], rho_b: float, args: argparse.Namespace
) -> None:
    records = usable(records, [MSP, SE])
    y = np.array([r["correct"] for r in records], dtype=float)
    cheap = np.array([r["scores"][MSP] for r in records])
    full = np.array([r["scores"][SE] for r in records])
    t_g = np.array([r["t_greedy"] for r in records])
    t_s = np.array([r["t_samples"] for r in records])
    always = float((t_g * rho_b).sum())
    cloud_share = 1.0 - float(y.mean())
    print(
        f"\n(c) {dataset}: staged escalation, cheap = {MSP}, full = {SE} (n={len(records)}; "
        f"band centred on the cheap cut for cloud share {cloud_share:.2f} = 1 - accuracy; "
        f"cost relative to always-SE, batched/greedy = {rho_b:.2f})"
    )
    rows = [
        ["always SE", "-", "1.00", "1.00", str(interval(auroc, full, y, args))],
        [
            "cheap only",
            "-",
            "0.00",
            f"{t_g.sum() / always:.2f}",
            str(interval(auroc, cheap, y, args)),
        ],
    ]
    reference = auroc(full, y)
    best: tuple[float, float, float] | None = None
    grid = sorted(set(args.se_shares) | {round(0.05 * k, 2) for k in range(21)})
    for share in grid:
        band = band_for_share(cheap.tolist(), share, cloud_share)
        score, in_band = staged_scores(cheap, full, band)
        cost = float((t_g + in_band * t_s).sum()) / always
        value = auroc(score, y)
        if best is None and value >= reference - args.auroc_tolerance:
            best = (share, float(in_band.mean()), cost)
        if share in args.se_shares:
            rows.append(
                [
                    f"staged {share:.2f}",
                    f"({band[0]:.3f}, {band[1]:.3f})",
                    f"{in_band.mean():.2f}",
                    f"{cost:.2f}",
                    str(interval(auroc, score, y, args)),
                ]
            )
    print_table(["router", "band", "SE share", "cost", "AUROC [95% CI]"], rows)
    if best is not None:
        print(
            f"equal AUROC (within {args.auroc_tolerance}): SE share {best[1]:.2f} "
            f"(target {best[0]:.2f}), cost {best[2]:.2f} of always-SE"
        )
    early_exit_table(dataset, records, rho_b, args, best[0] if best else None)


def early_exit_table(
    dataset: str,
    records: list[dict[str, Any]],
    rho_b: float,
    args: argparse.Namespace,
    staged_share: float | None,
) -> None:
    y = np.array([r["correct"] for r in records], dtype=float)
    cheap = np.array([r["scores"][MSP] for r in records])
    full = np.array([r["scores"][SE] for r in records])
    t_g = np.array([r["t_greedy"] for r in records])
    t_s = np.array([r["t_samples"] for r in records])
    length = np.array([max(r["greedy_tokens"], 1) for r in records], dtype=float)
    samples = np.array([r["sample_tokens"] for r in records], dtype=float)
    always = float((t_g * rho_b).sum())
    total_tokens = float((length + samples).sum())
    band = (
        band_for_share(cheap.tolist(), staged_share, 1.0 - float(y.mean()))
        if staged_share is not None
        else None
    )
    print(
        f"\n(c) {dataset}: early exit (min_tokens={args.min_tokens}, window={args.window}); "
        f"exited answers escalate at once"
        + (f"; staged at SE share {staged_share:.2f}" if band is not None else "")
    )
    rows = []
    for floor in args.floors:
        exits = [
            exit_point(r["greedy_logprobs"], floor, min_tokens=args.min_tokens, window=args.window)
            for r in records
        ]
        exited = np.array([e is not None for e in exits])
        k = np.array([e if e is not None else 0 for e in exits], dtype=float)
        running = np.array(
            [
                running_value(r["greedy_logprobs"][: int(e)], args.window) if e is not None else 0.0
                for r, e in zip(records, exits, strict=True)
            ]
        )
        frac = np.where(exited, k / length, 1.0)
        greedy_saved = float(((length - k) * exited).sum()) / float(length.sum())
        sample_saved = (np.maximum(samples - args.samples * k, 0) * exited).sum()
        edge_saved = float(((length - k) * exited).sum() + sample_saved) / total_tokens
        wrong_exits = float((exited & (y > 0.5)).sum() / max(exited.sum(), 1))
        score = np.where(exited, -3.0 + running, full)
        cost = float((t_g * rho_b * frac).sum()) / always
        rows.append(
            [
                f"always SE, floor {floor}",
                f"{exited.mean():.2f}",
                f"{wrong_exits:.2f}",
                f"{greedy_saved:.2f}",
                f"{edge_saved:.2f}",
                f"{cost:.2f}",
                str(interval(auroc, score, y, args)),
            ]
        )
        if band is not None:
            staged, in_band = staged_scores(cheap, full, band)
            score = np.where(exited, -3.0 + running, staged)
            cost = float((t_g * frac + (in_band & ~exited) * t_s).sum()) / always
            rows.append(
                [
                    f"staged, floor {floor}",
                    f"{exited.mean():.2f}",
                    f"{wrong_exits:.2f}",
                    f"{greedy_saved:.2f}",
                    "-",
                    f"{cost:.2f}",
                    str(interval(auroc, score, y, args)),
                ]
            )
    print_table(
        [
            "router",
            "exit share",
            "exits correct",
            "greedy tok saved",
            "edge tok saved",
            "cost",
            "AUROC [95% CI]",
        ],
        rows,
    )


def running_value(logprobs: Sequence[float], window: int | None) -> float:
    running = RunningConfidence(window=window)
    for lp in logprobs:
        running.push(lp)
    return running.value


# -- output --------------------------------------------------------------------------------------


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(line.format(*header))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))


def load_edge(model: str, args: argparse.Namespace) -> Any:
    from confidence_router.models.transformers import TransformersModel

    start = time.perf_counter()
    edge = TransformersModel(model, dtype=args.dtype, device=args.device, num_threads=args.threads)
    print(
        f"loaded {edge.model_name} ({args.dtype}, {args.device}) in "
        f"{time.perf_counter() - start:.0f}s",
        file=sys.stderr,
    )
    return edge


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--parts", nargs="+", choices=["a", "b", "c"], default=["a", "b", "c"])
    p.add_argument(
        "--report-only",
        action="store_true",
        help="print the tables from stored results; load no model",
    )
    p.add_argument(
        "--datasets",
        help="folder with mmlu/ and gsm8k/ "
        "(default: $CONFIDENCE_ROUTER_DATASETS or ../shared/datasets)",
    )
    p.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS)
    p.add_argument("--samples", type=int, default=5, help="N, samples per request")
    p.add_argument(
        "--dtype",
        default="float32",
        choices=["bfloat16", "float32", "float16"],
        help="the edge's dtype (float32 is TransformersModel's default)",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--cost-model", default="smollm2-135m-instruct")
    p.add_argument("--cost-tokens", type=int, default=64)
    p.add_argument("--cost-rounds", type=int, default=2)
    p.add_argument("--redo-cost", action="store_true")
    p.add_argument(
        "--model", default="qwen2.5-coder-0.5b-instruct", help="the edge for (b) and (c)"
    )
    p.add_argument("--mmlu", type=int, default=200)
    p.add_argument("--gsm8k", type=int, default=50)
    p.add_argument("--mmlu-tokens", type=int, default=32)
    p.add_argument("--gsm8k-tokens", type=int, default=256)
    p.add_argument(
        "--rho-tokens",
        type=int,
        default=32,
        help="fixed length of the batched/greedy cost measurement for (c)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--se-shares", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.5, 0.7])
    p.add_argument("--auroc-tolerance", type=float, default=0.01)
    p.add_argument("--floors", type=float, nargs="+", default=[0.6, 0.65, 0.7])
    p.add_argument("--min-tokens", type=int, default=4)
    p.add_argument("--window", type=int, default=None)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    parts = set(args.parts)
    results: Path = args.results_dir
    summary: list[str] = []

    if "a" in parts:
        path = cost_file(results, args.cost_model, args.dtype, args.cost_tokens, args.samples)
        if args.report_only and not path.exists():
            print(f"\n(a) no stored cost measurement at {path}")
        else:

            def measure_a() -> dict[str, Any]:
                edge = load_edge(args.cost_model, args)
                cost = measure_cost(
                    edge, COST_PROMPTS, args.cost_tokens, args.cost_rounds, args.samples, full=True
                )
                del edge
                gc.collect()
                return cost

            cost = cached_cost(path, args.redo_cost, measure_a)
            cost_table(cost)
            summary.append(f"se_cost_ratio={cost['batched_s'] / cost['greedy_s']:.3f}")

    if parts & {"b", "c"}:
        root = datasets_root(args.datasets)
        items = {
            "mmlu": load_mmlu(root, args.mmlu, args.seed, args.mmlu_tokens),
            "gsm8k": load_gsm8k(root, args.gsm8k, args.seed, args.gsm8k_tokens),
        }
        tokens = {"mmlu": args.mmlu_tokens, "gsm8k": args.gsm8k_tokens}
        stores = {d: ResultStore(results / run_name(args.model, d, args, tokens[d])) for d in items}
        rho_path = cost_file(results, args.model, args.dtype, args.rho_tokens, args.samples)
        edge = None
        needs_items = any(i.id not in stores[d].records for d in items for i in items[d])
        needs_rho = "c" in parts and (args.redo_cost or not rho_path.exists())
        if not args.report_only and (needs_items or needs_rho):
            edge = load_edge(args.model, args)
            if needs_items:
                for dataset, chosen in items.items():
                    if chosen:
                        run_dataset(edge, chosen, stores[dataset], args.samples)
        rho_b = math.nan
        if "c" in parts and (edge is not None or rho_path.exists()):
            cost = cached_cost(
                rho_path,
                args.redo_cost,
                lambda: measure_cost(
                    edge, COST_PROMPTS[:3], args.rho_tokens, 1, args.samples, full=False
                ),
            )
            rho_b = cost["batched_s"] / cost["greedy_s"]
        for dataset, chosen in items.items():
            if not chosen:
                continue
            wanted = {i.id for i in chosen}
            records = [r for k, r in stores[dataset].records.items() if k in wanted]
            if not records:
                print(f"\n{dataset}: no results yet in {stores[dataset].path}")
                continue
            if "b" in parts:
                quality_table(dataset, records, args)
            if "c" in parts:
                if math.isnan(rho_b):
                    print(f"\n(c) {dataset}: no batched/greedy cost measurement at {rho_path}")
                else:
                    staged_table(dataset, records, rho_b, args)
    for line in summary:
        print(line)


if __name__ == "__main__":
    main()

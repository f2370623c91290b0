"""The llama.cpp edge (`LlamaCppModel`) against llama.cpp's own floor and `TransformersModel`.

One process, one GGUF for both runtimes (bundled Qwen2.5-Coder-0.5B-Instruct unless --model),
GSM8K test questions as prompts (gzip, /work/shared/datasets; a built-in few without it),
answers of their natural length unless a line says otherwise. Every number is a median over
--repeats runs per prompt, summed over the prompts. Measured, in this order:

- greedy with statistics (log-prob + full-vocabulary entropy per token) vs llama.cpp decoding the
  same tokens with no statistics and no Python scheduling (`llama_cpp_vs_raw`, target >= 0.90);
- greedy tokens/s vs `TransformersModel` at the faster of float32 / bfloat16
  (`llama_cpp_vs_transformers`, >= 3.0);
- one semantic-entropy request (greedy + 5 samples, 256-token cap) vs the same on transformers
  (`se_request_vs_transformers`, <= 0.30) and vs the greedy answer alone (`se_cost_ratio`, <= 3.5);
- 8 simultaneous greedy requests (continuous batching) vs one after another
  (`concurrent_gain`, >= 1.5);
- constructor to first token in a fresh process (`load_s`, <= 2);
- prefill tokens/s of a 2,048-token prompt (`prefill_vs_transformers`, >= 1.0);
- a RAG-style request: 2,000-token context, exactly 64 answer tokens (end-of-turn ignored on
  both sides), white-box statistics (`rag_request_vs_transformers`, <= 0.7).

`--quant q8_0` also times decode and prefill on the model requantized to Q8_0 (cached once).
The machine's load average is printed first and last: timings on a busy 2-core machine are not
comparable (llama.cpp's OpenMP threads degrade badly when another process takes a core).
"""

from __future__ import annotations

import argparse
import functools
import gzip
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from confidence_router.errors import ConfigurationError
from confidence_router.evaluation.data import datasets_root
from confidence_router.generation import Generation, GenerationOptions
from confidence_router.messages import ChatMessage, normalize_messages
from confidence_router.models.base import ChatBackend
from confidence_router.models.llama_cpp import LlamaCppModel

if TYPE_CHECKING:
    from confidence_router.models.transformers import TransformersModel

MODEL = "qwen2.5-coder-0.5b-instruct"
FALLBACK = [
    "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes "
    "muffins for her friends every day with four. She sells the remainder at the farmers' market "
    "daily for $2 per fresh duck egg. How much in dollars does she make every day?",
    "A robe takes 2 bolts of blue fiber and half that much white fiber. How many bolts in total "
    "does it take?",
    "Josh decides to try flipping a house. He buys a house for $80,000 and then puts in $50,000 "
    "in repairs. This increased the value of the house by 150%. How much profit did he make?",
    "James decides to run 3 sprints 3 times a week. He runs 60 meters each sprint. How many "
    "total meters does he run a week?",
    "Every day, Wendi feeds each of her chickens three cups of mixed chicken feed. She has 20 "
    "chickens. How many cups of feed does she need per day?",
    "Kylar went to the store to buy glasses for his new apartment. One glass costs $5, but every "
    "second glass costs only 60% of the price. He wants to buy 16 glasses. How much does he pay?",
    "Toulouse has twice as many sheep as Charleston. Charleston has 4 times as many sheep as "
    "Seattle. How many sheep do the three have together if Seattle has 20 sheep?",
    "Carla is downloading a 200 GB file. She can download 2 GB/minute, but 40% of the way "
    "through Windows restarts for 20 minutes. How long does the download take in minutes?",
]
SUFFIX = " Solve it step by step, then give the final answer."


def questions(n: int, split: str = "test", offset: int = 0) -> list[str]:
    """GSM8K questions (the built-in ones when the data kit is absent): the kit's folder, or
    `$CONFIDENCE_ROUTER_DATASETS` (`confidence_router.evaluation.datasets_root`)."""
    try:
        path = datasets_root() / "gsm8k" / f"{split}.jsonl.gz"
    except ConfigurationError:
        path = Path("/nonexistent")
    if path.is_file():
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            rows = [json.loads(line)["question"] for line in fh]
        return rows[offset : offset + n]
    return [FALLBACK[(offset + i) % len(FALLBACK)] for i in range(n)]


def long_context(count: Callable[[str], int], tokens: int, question: str) -> list[ChatMessage]:
    """A RAG-style prompt: numbered passages (GSM8K train questions) up to about `tokens`."""
    passages: list[str] = []
    for i, text in enumerate(questions(400, "train")):
        passages.append(f"[{i + 1}] {text}")
        if count("\n".join(passages)) >= tokens:
            break
    context = "\n".join(passages)
    return normalize_messages(
        [
            {"role": "system", "content": "Answer from the passages; cite passage numbers."},
            {"role": "user", "content": f"Passages:\n{context}\n\nQuestion: {question}"},
        ]
    )


def median_time(call: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time of `repeats` calls, and the last call's result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def timed_generations(
    model: ChatBackend, prompts: Sequence[list[ChatMessage]], options: GenerationOptions, n: int
) -> tuple[float, list[Generation]]:
    """Total (over prompts) of the median time per prompt, and each prompt's generation."""
    total, out = 0.0, []
    for prompt in prompts:
        seconds, gen = median_time(functools.partial(model.generate, prompt, options), n)
        total += seconds
        out.append(gen)
    return total, out


def tokens_of(generations: Sequence[Generation]) -> int:
    return sum(g.usage.output_tokens for g in generations)


def raw_floor(model: LlamaCppModel, prompt: list[int], answer: Generation) -> float:
    """llama.cpp alone decoding the tokens `generate` decoded: the prompt in batch-sized chunks,
    then each fed answer token (the last one too when an end token followed it), logits
    computed but not read."""
    greedy = answer.greedy
    fed = list(greedy.token_ids) if greedy.finish_reason == "stop" else list(greedy.token_ids[:-1])
    with model.exclusive_runtime() as runtime:
        batch = runtime.batch
        assert batch is not None
        start = time.perf_counter()
        for at in range(0, len(prompt), batch.capacity):
            chunk = prompt[at : at + batch.capacity]
            batch.clear()
            last = at + len(chunk) == len(prompt)
            batch.add(chunk, at, 0, [len(chunk) - 1] if last else [])
            assert runtime.decode() == 0
        for i, token in enumerate(fed):
            batch.clear()
            batch.add([token], len(prompt) + i, 0, [0])
            assert runtime.decode() == 0
        return time.perf_counter() - start


def concurrent(model: ChatBackend, prompts: Sequence[list[ChatMessage]], cap: int) -> float:
    """Wall time of all prompts sent at once from their own threads."""
    options = GenerationOptions(max_new_tokens=cap)
    barrier = threading.Barrier(len(prompts) + 1)

    def ask(prompt: list[ChatMessage]) -> None:
        barrier.wait()
        model.generate(prompt, options)

    threads = [threading.Thread(target=ask, args=(p,)) for p in prompts]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def cold_load(model: str) -> tuple[float, float]:
    """(import seconds, constructor-to-first-token seconds) in a fresh interpreter."""
    code = (
        "import time, json; t0 = time.perf_counter()\n"
        "from confidence_router.models.llama_cpp import LlamaCppModel\n"
        "from confidence_router.generation import GenerationOptions\n"
        "from confidence_router.messages import normalize_messages\n"
        "t1 = time.perf_counter()\n"
        f"m = LlamaCppModel({model!r})\n"
        "m.generate(normalize_messages('Hi'), GenerationOptions(max_new_tokens=1))\n"
        "print(json.dumps([t1 - t0, time.perf_counter() - t1]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    import_s, load_s = json.loads(out.stdout.strip().splitlines()[-1])
    return float(import_s), float(load_s)


class Results:
    """Rows of the printed table: (runtime, measurement, value)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []

    def add(self, runtime: str, what: str, value: float, unit: str) -> float:
        self.rows.append((runtime, what, f"{value:,.2f} {unit}"))
        print(f"  {runtime:<22} {what:<44} {value:>10,.2f} {unit}", flush=True)
        return value


def measure(
    model: LlamaCppModel | TransformersModel, label: str, args: argparse.Namespace, res: Results
) -> dict[str, float]:
    """Every per-runtime number for one backend (the last one makes it ignore end tokens)."""
    prompts = [normalize_messages(q + SUFFIX) for q in questions(args.prompts)]
    n = args.repeats
    out: dict[str, float] = {}
    greedy_opts = GenerationOptions(max_new_tokens=args.cap)
    model.generate(prompts[0], GenerationOptions(max_new_tokens=4))  # warm-up
    seconds, gens = timed_generations(model, prompts, greedy_opts, n)
    out["greedy_s"] = seconds
    tokens = tokens_of(gens)
    out["greedy_tps"] = res.add(
        label, f"greedy tokens/s ({tokens} tokens)", tokens / seconds, "tok/s"
    )
    if isinstance(model, LlamaCppModel):
        floor = sum(
            statistics.median(raw_floor(model, model.encode(p), g) for _ in range(n))
            for p, g in zip(prompts, gens, strict=True)
        )
        out["raw_s"] = floor
        res.add(label, "same tokens, llama.cpp alone (floor) tokens/s", tokens / floor, "tok/s")
    se_opts = GenerationOptions(max_new_tokens=args.cap, num_samples=5, seed=0)
    se_prompts = prompts[: args.se_prompts]
    out["se_s"], se_gens = timed_generations(model, se_prompts, se_opts, n)
    out["se_greedy_s"] = sum(
        median_time(functools.partial(model.generate, p, greedy_opts), n)[0] for p in se_prompts
    )
    res.add(label, f"SE request greedy+5 ({tokens_of(se_gens)} tokens), s", out["se_s"], "s")
    res.add(label, "  greedy alone on the same prompts, s", out["se_greedy_s"], "s")
    if not args.skip_concurrency:
        batch = [normalize_messages(q + SUFFIX) for q in questions(8, offset=20)]
        one_by_one = sum(
            median_time(functools.partial(model.generate, p, greedy_opts), 1)[0] for p in batch
        )
        together = statistics.median(concurrent(model, batch, args.cap) for _ in range(n))
        res.add(label, "8 greedy requests one after another, s", one_by_one, "s")
        res.add(label, "8 greedy requests at once, s", together, "s")
        out["concurrent_gain"] = one_by_one / together
    long_prompt = long_context(model.count_text_tokens, args.prefill_tokens, questions(1)[0])
    prompt_tokens = model.count_tokens(long_prompt)
    prefill_s, _ = median_time(
        lambda: model.generate(long_prompt, GenerationOptions(max_new_tokens=1)), n
    )
    what = f"prefill tokens/s ({prompt_tokens}-token prompt)"
    out["prefill_tps"] = res.add(label, what, prompt_tokens / prefill_s, "tok/s")
    rag = long_context(model.count_text_tokens, args.rag_tokens, questions(2)[1])
    never_end(model)
    out["rag_s"], rag_gen = median_time(
        lambda: model.generate(rag, GenerationOptions(max_new_tokens=args.rag_answer)), n
    )
    assert rag_gen.greedy.num_tokens == args.rag_answer, rag_gen.greedy.num_tokens
    what = f"RAG request ({model.count_tokens(rag)} + {args.rag_answer} tokens), s"
    res.add(label, what, out["rag_s"], "s")
    return out


def never_end(model: ChatBackend) -> None:
    """Decode to the token cap (the RAG line asks for exactly that many answer tokens)."""
    if isinstance(model, LlamaCppModel):
        model._runtime.is_end = lambda token: False  # type: ignore[method-assign]
    else:
        model._end_ids = [-1]  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--quick", action="store_true", help="2 prompts, 1 run, 64-token caps")
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--se-prompts", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cap", type=int, default=256)
    parser.add_argument("--prefill-tokens", type=int, default=2048)
    parser.add_argument("--rag-tokens", type=int, default=2000)
    parser.add_argument("--rag-answer", type=int, default=64)
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--skip-transformers", action="store_true")
    parser.add_argument("--skip-concurrency", action="store_true")
    parser.add_argument("--quant", default=None, help="also time the model requantized to this")
    args = parser.parse_args()
    if args.quick:
        args.prompts, args.se_prompts, args.repeats, args.cap = 2, 1, 1, 64
    print(f"load average before: {os.getloadavg()}", flush=True)
    res = Results()

    import_s, load_s = cold_load(args.model)
    res.add("llama.cpp", "import, fresh process, s", import_s, "s")
    res.add("llama.cpp", "constructor to first token, fresh process, s", load_s, "s")
    llama = LlamaCppModel(args.model)
    ours = measure(llama, "llama.cpp", args, res)
    llama.close()
    quant: dict[str, float] = {}
    if args.quant:
        converted = LlamaCppModel(args.model, requantize=args.quant)
        quant = measure(converted, f"llama.cpp {args.quant}", args, res)
        converted.close()

    theirs: dict[str, dict[str, float]] = {}
    if not args.skip_transformers:
        import transformers

        from confidence_router.models.transformers import TransformersModel

        transformers.logging.set_verbosity_error()
        for dtype in args.dtypes:
            edge = TransformersModel(args.model, dtype=dtype)
            theirs[dtype] = measure(edge, f"transformers {dtype}", args, res)
            edge.close()
            del edge

    print("\nruntime                | measurement | value")
    for runtime, what, shown in res.rows:
        print(f"{runtime} | {what} | {shown}")
    print(f"load average after: {os.getloadavg()}")
    keys: dict[str, float] = {
        "llama_cpp_vs_raw": ours["raw_s"] / ours["greedy_s"],
        "se_cost_ratio": ours["se_s"] / ours["se_greedy_s"],
        "load_s": load_s,
    }
    if "concurrent_gain" in ours:
        keys["concurrent_gain"] = ours["concurrent_gain"]
    if theirs:
        keys["llama_cpp_vs_transformers"] = ours["greedy_tps"] / max(
            t["greedy_tps"] for t in theirs.values()
        )
        keys["se_request_vs_transformers"] = ours["se_s"] / min(t["se_s"] for t in theirs.values())
        keys["prefill_vs_transformers"] = ours["prefill_tps"] / max(
            t["prefill_tps"] for t in theirs.values()
        )
        keys["rag_request_vs_transformers"] = ours["rag_s"] / min(
            t["rag_s"] for t in theirs.values()
        )
    if quant:
        keys[f"{args.quant}_decode_speedup"] = quant["greedy_tps"] / ours["greedy_tps"]
        keys[f"{args.quant}_prefill_speedup"] = quant["prefill_tps"] / ours["prefill_tps"]
    for key, value in keys.items():
        print(f"{key}={value:.3f}")


if __name__ == "__main__":
    main()

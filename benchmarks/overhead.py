"""Router overhead: the runtime's own decode vs the same answer through `CascadeRouter`.

`--runtime llama_cpp` (the default edge, `LlamaCppModel` on Qwen2.5-Coder-0.5B-Instruct):
answers of their natural length (end of turn, capped at `--tokens`, default 256) through the
router vs llama.cpp alone decoding the same prompt and answer tokens with no statistics and no
Python scheduling (`edge_runtime.raw_floor`). `--runtime transformers` (SmolLM2 by default):
raw `model.generate` vs the router, EOS disabled so both decode exactly `--tokens` (default 48).
The router scores each answer with the three white-box estimators (the edge records per-token
log-probs and full-vocabulary entropies) and never escalates (threshold 0: no cloud time). Runs
alternate to cancel drift on a noisy machine. The last line is
`overhead_ratio=<router time / raw time>`; target <= 1.02.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
import transformers
from transformers import GenerationConfig

from confidence_router import CascadeRouter
from confidence_router.messages import normalize_messages
from confidence_router.models.transformers import TransformersModel
from confidence_router.routing.no_cloud import NoCloud
from confidence_router.uncertainty import MaxSequenceProbability, MeanTokenEntropy, Perplexity

PROMPTS = [
    "What is the capital of France?",
    "Explain photosynthesis briefly.",
    "Write a limerick about a cat.",
    "What are the three states of matter?",
]


def _router(edge: object, tokens: int) -> CascadeRouter:
    return CascadeRouter(
        edge,  # type: ignore[arg-type]
        NoCloud(),
        estimator=MaxSequenceProbability(),
        extra_estimators=[Perplexity(), MeanTokenEntropy()],
        threshold=0.0,
        max_new_tokens=tokens,
    )


def _alternate(
    raw: Callable[[], float], routed: Callable[[], float], rounds: int
) -> tuple[float, float]:
    raw(), routed()  # warm up
    raw_times, routed_times = [], []
    for _ in range(rounds):
        raw_times.append(raw())
        routed_times.append(routed())
    return statistics.median(raw_times), statistics.median(routed_times)


def llama_cpp(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from edge_runtime import raw_floor

    from confidence_router.models.llama_cpp import LlamaCppModel

    start = time.perf_counter()
    edge = LlamaCppModel(args.model or "qwen2.5-coder-0.5b-instruct")
    load_s = time.perf_counter() - start
    router = _router(edge, args.tokens or 256)
    messages = [normalize_messages(p) for p in PROMPTS]
    encoded = [edge.encode(m) for m in messages]
    answers = [edge.generate(m, router.edge_options()) for m in messages]

    def raw() -> float:
        return sum(raw_floor(edge, ids, a) for ids, a in zip(encoded, answers, strict=True))

    def routed() -> float:
        start = time.perf_counter()
        for prompt, answer in zip(PROMPTS, answers, strict=True):
            out = router.route(prompt)
            assert out.route == "edge" and out.text == answer.greedy.text
        return time.perf_counter() - start

    try:
        raw_s, routed_s = _alternate(raw, routed, args.rounds)
    finally:
        edge.close()
    tokens = sum(a.usage.output_tokens for a in answers)
    print(
        f"model={edge.model_name} runtime=llama_cpp prompts={len(PROMPTS)} "
        f"answer_tokens={tokens} (natural lengths, cap {args.tokens or 256}) "
        f"rounds={args.rounds} load_s={load_s:.1f}"
    )
    print(f"raw_decode_s={raw_s:.3f} ({tokens / raw_s:.1f} tok/s)")
    print(f"router_s={routed_s:.3f} ({tokens / routed_s:.1f} tok/s)")
    print(f"overhead_ratio={routed_s / raw_s:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runtime", default="llama_cpp", choices=["llama_cpp", "transformers"])
    parser.add_argument("--model", help="default: the runtime's (see above)")
    parser.add_argument("--tokens", type=int, help="llama_cpp: the cap; transformers: exact")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--dtype", choices=["bfloat16", "float32"], help="transformers (default: measured)"
    )
    args = parser.parse_args()
    if args.runtime == "llama_cpp":
        return llama_cpp(args)
    args.model = args.model or "smollm2-135m-instruct"
    args.tokens = args.tokens or 48

    transformers.logging.set_verbosity_error()
    start = time.perf_counter()
    edge = TransformersModel(args.model, dtype=args.dtype)
    load_s = time.perf_counter() - start
    router = _router(edge, args.tokens)
    edge._end_ids = [-1]  # never stop early: both sides decode exactly --tokens tokens
    encoded = [edge.encode(normalize_messages(p)) for p in PROMPTS]
    raw_config = GenerationConfig(
        max_new_tokens=args.tokens, min_new_tokens=args.tokens, do_sample=False, pad_token_id=0
    )

    def raw() -> float:
        start = time.perf_counter()
        with torch.inference_mode():
            for ids in encoded:
                edge.model.generate(
                    input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=raw_config
                )
        return time.perf_counter() - start

    def routed() -> float:
        start = time.perf_counter()
        for prompt in PROMPTS:
            out = router.route(prompt)
            assert out.route == "edge" and out.usage["edge"].output_tokens == args.tokens
        return time.perf_counter() - start

    raw_s, routed_s = _alternate(raw, routed, args.rounds)
    tokens = len(PROMPTS) * args.tokens
    print(
        f"model={edge.model_name} prompts={len(PROMPTS)} tokens_each={args.tokens} "
        f"rounds={args.rounds} dtype={edge.dtype} load_s={load_s:.1f}"
    )
    print(f"raw_generate_s={raw_s:.3f} ({tokens / raw_s:.1f} tok/s)")
    print(f"router_s={routed_s:.3f} ({tokens / routed_s:.1f} tok/s)")
    print(f"overhead_ratio={routed_s / raw_s:.4f}")


if __name__ == "__main__":
    main()

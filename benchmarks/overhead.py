"""Router overhead: raw `model.generate` vs the same generation through `CascadeRouter`.

Both run in this process on the same prompts with the same number of new tokens (greedy, EOS
disabled so every run decodes exactly `--tokens` tokens); the router scores the answer with the
three white-box estimators (the edge must record per-token log-probs and entropies) and never
escalates (threshold 0, so no cloud time is counted). Runs alternate to cancel drift on a noisy
machine. The last line is `overhead_ratio=<router time / raw time>`; target <= 1.03.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dtype", default="float32", choices=["bfloat16", "float32"])
    args = parser.parse_args()

    transformers.logging.set_verbosity_error()
    start = time.perf_counter()
    edge = TransformersModel(args.model, dtype=args.dtype)
    load_s = time.perf_counter() - start
    router = CascadeRouter(
        edge,
        NoCloud(),
        estimator=MaxSequenceProbability(),
        extra_estimators=[Perplexity(), MeanTokenEntropy()],
        threshold=0.0,
        max_new_tokens=args.tokens,
    )
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

    raw(), routed()  # warm up
    raw_times, routed_times = [], []
    for _ in range(args.rounds):
        raw_times.append(raw())
        routed_times.append(routed())
    raw_s, routed_s = statistics.median(raw_times), statistics.median(routed_times)
    tokens = len(PROMPTS) * args.tokens
    print(
        f"model={edge.model_name} prompts={len(PROMPTS)} tokens_each={args.tokens} "
        f"rounds={args.rounds} dtype={args.dtype} load_s={load_s:.1f}"
    )
    print(f"raw_generate_s={raw_s:.3f} ({tokens / raw_s:.1f} tok/s)")
    print(f"router_s={routed_s:.3f} ({tokens / routed_s:.1f} tok/s)")
    print(f"overhead_ratio={routed_s / raw_s:.4f}")


if __name__ == "__main__":
    main()

"""Concurrent requests on one in-process edge: the model lock alone vs the batching queue.

The edge model runs one generation at a time (`TransformersModel` holds a lock). Without
batching, N simultaneous requests are decoded one after another; with it (the default), the
requests that arrive while the model is busy are decoded together (left-padded, one `generate`
call). This script sends the same N prompts as N concurrent `aroute` calls through
`CascadeRouter` (threshold 0: no cloud; scoring included) both ways, in one process,
alternating rounds, every row decoding exactly --tokens tokens (EOS off), and also times one
raw left-padded `model.generate` over the N prompts (no router, no scoring).

Prints `batched_vs_lock[n=N]=<queue time / lock time>` (below 1: batching is faster).
"""

from __future__ import annotations

import argparse
import asyncio
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

PROMPTS = [
    "What is the capital of France?",
    "Explain photosynthesis briefly.",
    "Write a limerick about a cat.",
    "What are the three states of matter?",
    "Name a famous painter.",
    "How do airplanes fly?",
    "What is 17 times 3?",
    "Give me a synonym for happy.",
    "Why is the sky blue?",
    "What is a prime number?",
    "Describe a rainbow.",
    "Who wrote Hamlet?",
    "What is machine learning?",
    "How many legs does a spider have?",
    "What is the boiling point of water?",
    "Suggest a name for a dog.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--dtype", default="float32", choices=["bfloat16", "float32"])
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    transformers.logging.set_verbosity_error()
    edge = TransformersModel(args.model, dtype=args.dtype)
    edge._end_ids = [-1]  # never stop early: every row decodes exactly --tokens tokens
    router = CascadeRouter(edge, NoCloud(), threshold=0.0, max_new_tokens=args.tokens)
    tokenizer = edge.tokenizer
    tokenizer.padding_side = "left"
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    config = GenerationConfig(
        max_new_tokens=args.tokens,
        min_new_tokens=args.tokens,
        do_sample=False,
        pad_token_id=pad_id,
    )

    queue = edge._queue

    async def routed(prompts: list[str], batching: bool) -> float:
        edge._queue = queue if batching else None
        start = time.perf_counter()
        await asyncio.gather(*(router.aroute(p) for p in prompts))
        return time.perf_counter() - start

    def batched(prompts: list[str]) -> float:
        texts = [
            tokenizer.apply_chat_template(
                [m.to_template() for m in normalize_messages(p)],
                add_generation_prompt=True,
                tokenize=False,
            )
            for p in prompts
        ]
        start = time.perf_counter()
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            edge.model.generate(**enc, generation_config=config)
        return time.perf_counter() - start

    asyncio.run(routed(PROMPTS[:2], True))  # warm-up
    batched(PROMPTS[:2])
    threads = torch.get_num_threads()
    print(f"model={args.model} dtype={args.dtype} tokens={args.tokens} threads={threads}")
    for n in args.sizes:
        prompts = [PROMPTS[i % len(PROMPTS)] for i in range(n)]
        lock_s: list[float] = []
        queue_s: list[float] = []
        raw_s: list[float] = []
        for _ in range(args.rounds):
            lock_s.append(asyncio.run(routed(prompts, False)))
            queue_s.append(asyncio.run(routed(prompts, True)))
            raw_s.append(batched(prompts))
        lock, batch, raw = (statistics.median(x) for x in (lock_s, queue_s, raw_s))
        tokens = n * args.tokens
        print(
            f"n={n}: lock {lock:.2f} s ({tokens / lock:.0f} tok/s), queue {batch:.2f} s "
            f"({tokens / batch:.0f} tok/s), raw batched generate {raw:.2f} s "
            f"({tokens / raw:.0f} tok/s)"
        )
        print(f"batched_vs_lock[n={n}]={batch / lock:.3f}")


if __name__ == "__main__":
    main()

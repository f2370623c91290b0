#!/usr/bin/env bash
# The committed evaluation run (issue 6) on the graded-gap pair of MODELS.md: edge
# Qwen2.5-Coder-0.5B-Instruct in-process (float32), cloud Qwen2.5-Coder-1.5B-Instruct behind the
# local llama.cpp server; 400 MMLU test + 60 GSM8K test questions (seed 0, GSM8K capped at 256 new
# tokens); MSP, perplexity, mean token entropy and semantic entropy (5 samples). Hours on 2 cores:
# every result is stored as soon as it exists, and running this again resumes where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec confidence-router eval --data mmlu:test:400 gsm8k:test:60 --seed 0 \
  --edge-model qwen2.5-coder-0.5b-instruct --edge-dtype float32 \
  --cloud-model qwen2.5-coder-1.5b-instruct \
  --store benchmarks/results/eval/eval.sqlite --out benchmarks/results/eval "$@"

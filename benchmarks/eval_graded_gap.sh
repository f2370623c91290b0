#!/usr/bin/env bash
# The committed evaluation on the fast edge (issue 18): edge Qwen2.5-Coder-0.5B-Instruct
# in-process on llama.cpp (LlamaCppModel, the default edge), cloud Qwen2.5-Coder-1.5B-Instruct
# behind the local llama.cpp server; 1,000 MMLU test + 300 GSM8K test questions (seed 0: the
# earlier run's 400 + 60 are their first items), MMLU first; MSP, mean token entropy and
# semantic entropy (5 samples). The edge's greedy answer and its samples are timed apart.
# Cloud answers the earlier run stored for the same items with the same cloud settings are
# reused (--reuse-cloud; marked `reused_from` in the store and said in the report). Hours on 2
# cores: every result is stored as soon as it exists; running this again resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec confidence-router eval --data mmlu:test:1000 gsm8k:test:300 --seed 0 \
  --edge-model qwen2.5-coder-0.5b-instruct --edge-runtime llama_cpp \
  --cloud-model qwen2.5-coder-1.5b-instruct \
  --estimators max_sequence_probability mean_token_entropy semantic_entropy \
  --store benchmarks/results/eval/eval.sqlite \
  --run fast-edge__qwen2.5-coder-0.5b__qwen2.5-coder-1.5b \
  --reuse-cloud qwen2.5-coder-0.5b-instruct__qwen2.5-coder-1.5b-instruct \
  --out benchmarks/results/eval/fast_edge "$@"

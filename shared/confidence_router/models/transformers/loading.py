"""Loading a model and its tokenizer from local files (a bundled name, a GGUF or a folder)."""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from confidence_router.errors import ConfigurationError, ModelLoadError
from confidence_router.models.bundled import resolve_model_path

DType = Literal["auto", "float32", "bfloat16", "float16"]
END_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>")


def native_bf16(device: str = "cpu") -> bool:
    """Whether `device` computes bfloat16 natively, not by emulation: a CUDA GPU with bf16
    units (Ampere or later), a CPU with AVX-512 BF16 or AMX tiles (an AVX-512 CPU without them,
    e.g. Cascade Lake, only emulates it, and there bfloat16 is slower than float32)."""
    try:
        if device.startswith("cuda"):
            if not torch.cuda.is_available():
                return False
            with torch.cuda.device(torch.device(device)):
                return bool(torch.cuda.is_bf16_supported(including_emulation=False))
        if device == "cpu":
            return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError, ValueError):
        pass
    return False


def default_dtype(device: str = "cpu") -> DType:
    """bfloat16 where `device` computes it natively, else float32. Measured on a 2-core AVX-512
    BF16 + AMX CPU with transformers 5 (`benchmarks/edge_runtime.py`, Qwen2.5-Coder-0.5B): a
    semantic-entropy request (greedy + 5 samples) 1.9x faster in bfloat16, greedy decode the
    same; without native support bfloat16 is emulated and slower than float32."""
    return "bfloat16" if native_bf16(device) else "float32"


@dataclass(frozen=True)
class Loaded:
    """A loaded model (in eval mode, on its device), its tokenizer, and the name its files give."""

    model: Any
    tokenizer: Any
    name: str
    tools_in_template: bool  # the chat template renders `tools`
    path: Path | None = None  # the weights: the GGUF file, else the model folder


def load(
    model: str | os.PathLike[str],
    *,
    gguf_file: str | None,
    dtype: DType,
    device: str,
    num_threads: int | None,
) -> Loaded:
    """Load `model` from local files only; `ModelLoadError` when that fails or the tokenizer
    has no chat template. `num_threads` sets torch's intra-op threads (process-wide)."""
    path = resolve_model_path(model)
    folder, gguf = (path.parent, path.name) if path.is_file() else (path, gguf_file)
    if path.is_file() and path.suffix != ".gguf":
        raise ConfigurationError("model", f"{path} is a file but not a .gguf model")
    if num_threads is not None:
        if num_threads < 1:
            raise ConfigurationError("num_threads", "must be >= 1")
        torch.set_num_threads(num_threads)
    name = Path(gguf).stem if gguf else folder.name
    kwargs: dict[str, Any] = {"local_files_only": True}
    if gguf:
        kwargs["gguf_file"] = gguf
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), **kwargs)
        torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
        lm = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch_dtype, **kwargs).to(
            device
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"could not load edge model from {path}: {exc}") from exc
    lm.eval()
    template = tokenizer.chat_template or ""
    if not template:
        raise ModelLoadError(f"{path}: the tokenizer has no chat template")
    weights = folder / gguf if gguf else folder
    return Loaded(lm, tokenizer, name, "tools" in template, weights)


def end_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """The token ids that end an answer: the generation config's, the tokenizer's, and the
    usual chat end tokens present in the vocabulary."""
    ids: set[int] = set()
    configured = model.generation_config.eos_token_id
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(int(i) for i in configured)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    vocab = tokenizer.get_vocab()
    ids.update(vocab[t] for t in END_TOKENS if t in vocab)
    return sorted(ids)


def cache_keyword(method: Any) -> str:
    """The name `method` takes a KV cache under: `cache` in the transformers releases that
    deprecate `past_key_values` (a warning on every call), `past_key_values` before them."""
    try:
        parameters = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return "past_key_values"
    return "cache" if "cache" in parameters else "past_key_values"

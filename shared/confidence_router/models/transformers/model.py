"""`TransformersModel`: the in-process edge backend over Hugging Face `transformers`."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from confidence_router.errors import ConfigurationError, PromptTooLongError
from confidence_router.generation import Generation, GenerationOptions
from confidence_router.messages import ChatMessage
from confidence_router.models.base import Capabilities, ChatBackend
from confidence_router.models.batch_queue import BatchQueue
from confidence_router.models.bundled import DEFAULT_EDGE, weights_sha256
from confidence_router.models.transformers.admission import (
    Request,
    batch_key,
    batchable,
    locked,
)
from confidence_router.models.transformers.decoding import Decoder
from confidence_router.models.transformers.loading import (
    DType,
    cache_keyword,
    default_dtype,
    end_token_ids,
    load,
)
from confidence_router.models.transformers.scoring import continuation_probability
from confidence_router.models.transformers.states import from_end, last_token_state
from confidence_router.statistics import Statistic


class TransformersModel(ChatBackend):
    """An edge model running in-process on CPU (or any torch device).

    `model` is a bundled model name (default `smollm2-135m-instruct`), a `.gguf` file, or a local
    Hugging Face model folder (with `gguf_file=` naming a GGUF inside it). Nothing is downloaded.

    One `generate` call returns the greedy answer with per-token log-probs and per-step entropies
    and, when `options.num_samples` > 0, that many sampled answers from the same batched decode:
    the prompt is encoded and prefilled once and its cache shared by every row. With
    `options.samples_only` only the samples are decoded; with `options.early_exit_floor` the
    decode stops once the greedy row's running confidence falls below it (finish_reason
    "early_exit"). `probability_of` scores a fixed reply (the `PTrue` scorer). With
    `options.hidden_states` every answer carries layer `options.hidden_layer`'s hidden states
    from the same decode (`Answer.hidden`); `prompt_state` runs the prompt alone.

    `dtype` (None: `default_dtype(device)`) is bfloat16 where the device computes it natively (a
    CPU with AVX-512 BF16 / AMX, a CUDA GPU with bf16), else float32: measured on such a CPU, a
    semantic-entropy request runs 1.9x faster in bfloat16 and greedy decoding equally fast;
    emulated bfloat16 is slower than float32.

    Concurrency: one generation runs at a time (a lock). With `batching` (the default), plain
    greedy requests (no samples, early exit, seed or deadline) that arrive while the model is
    busy are decoded together, left-padded, in one `generate` call once it frees (at most
    `max_batch_size`); a request that finds the model free starts at once.
    `benchmarks/concurrency.py` measures the gain.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] = DEFAULT_EDGE,
        *,
        gguf_file: str | None = None,
        dtype: DType | None = None,
        device: str = "cpu",
        num_threads: int | None = None,
        name: str | None = None,
        batching: bool = True,
        max_batch_size: int = 16,
    ) -> None:
        self.dtype: DType = dtype or default_dtype(device)
        loaded = load(
            model, gguf_file=gguf_file, dtype=self.dtype, device=device, num_threads=num_threads
        )
        self._name = name or loaded.name
        self.tokenizer = loaded.tokenizer
        self.model = loaded.model
        self.device = device
        self.path = loaded.path
        self._template_tools = loaded.tools_in_template
        self._end_ids = end_token_ids(self.model, self.tokenizer)
        # `generate` hides its keywords behind **kwargs: it follows `forward`'s rename
        self._cache_kw = cache_keyword(self.model.forward)
        self._lock = threading.Lock()
        if max_batch_size < 1:
            raise ConfigurationError("max_batch_size", f"must be >= 1, got {max_batch_size}")
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._queue: BatchQueue[Request, Generation] | None = (
            BatchQueue(self._decode_batch, self._lock, max_batch_size) if batching else None
        )
        window = getattr(self.model.config, "max_position_embeddings", None)
        self._capabilities = Capabilities(
            statistics=frozenset(Statistic),
            tools=self._template_tools,
            context_window=int(window) if window else None,
            early_exit=True,
            token_scoring=True,
            deadline=True,
        )

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def model_name(self) -> str:
        return self._name

    def encode(
        self, messages: Sequence[ChatMessage], tools: Sequence[dict[str, Any]] | None = None
    ) -> torch.Tensor:
        """Token ids (1, L) of the conversation with the generation prompt appended."""
        conversation = [m.to_template() for m in messages]
        kwargs: dict[str, Any] = {}
        if tools and self._template_tools:
            kwargs["tools"] = list(tools)
        encoded = self.tokenizer.apply_chat_template(
            conversation,
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
            **kwargs,
        )
        ids: torch.Tensor = encoded["input_ids"]
        return ids.to(self.device)

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return int(self.encode(messages).shape[1])

    def count_text_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def generate(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Generation:
        options = options or GenerationOptions()
        if options.hidden_states:
            from_end(options.hidden_layer, self._state_entries)
        input_ids = self.encode(messages, tools)
        prompt_len = int(input_ids.shape[1])
        window = self._capabilities.context_window
        if window and prompt_len + 1 > window:
            raise PromptTooLongError(prompt_len, window)
        if self._queue is not None and self._batchable(options, prompt_len):
            key = batch_key(options, tools)
            return self._queue.submit(Request(input_ids, options, tools), key)
        with locked(self._lock, options.deadline, self._name):
            return self._decode(input_ids, options, tools)

    async def agenerate(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Generation:
        """`generate` in a thread of the model's own pool, large enough for a full batch to
        queue (the event loop's default pool has a few threads per core)."""
        if self._executor is None:
            workers = (self._queue.max_batch if self._queue is not None else 1) + 2
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=workers, thread_name_prefix="edge"
            )
            # its threads end with the model even if `close` is never called
            weakref.finalize(self, self._executor.shutdown, wait=False)
        loop = asyncio.get_running_loop()
        call = functools.partial(self.generate, messages, options, tools)
        return await loop.run_in_executor(self._executor, call)

    def close(self) -> None:
        """Stop the worker threads `agenerate` started (a later `agenerate` starts new ones)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def _batchable(self, options: GenerationOptions, prompt_len: int) -> bool:
        return batchable(options, prompt_len, self._capabilities.context_window)

    def _decoder(self) -> Decoder:
        """The decoder over the model as it is now (tests and benchmarks change `_end_ids`)."""
        return Decoder(
            model=self.model,
            tokenizer=self.tokenizer,
            device=self.device,
            name=self._name,
            cache_kw=self._cache_kw,
            end_ids=self._end_ids,
            window=self._capabilities.context_window,
            tools_in_template=self._template_tools,
        )

    def _decode(
        self,
        input_ids: torch.Tensor,
        options: GenerationOptions,
        tools: Sequence[dict[str, Any]] | None,
    ) -> Generation:
        """One request's generation (the caller holds the model lock)."""
        return self._decoder().decode(input_ids, options, tools)

    def _decode_batch(self, requests: Sequence[Request]) -> list[Generation]:
        """Greedy generations of several same-option requests in one decode (the caller holds
        the model lock)."""
        return self._decoder().decode_batch(requests)

    def probability_of(self, messages: Sequence[ChatMessage], continuation: str) -> float:
        """P(reply starts with `continuation` | messages): the conversation with the generation
        prompt (as `encode`), the continuation's tokens appended (tokenized on their own, no
        special tokens), the product of their probabilities at temperature 1, from one forward
        pass. The `TokenProbabilityScorer` protocol, used by `PTrue`."""
        prompt = self.encode(messages)
        window = self._capabilities.context_window
        return continuation_probability(
            self.model, self.tokenizer, prompt, continuation, window, self._lock
        )

    @property
    def _state_entries(self) -> int:
        """Hidden states per token: the embeddings' output and each layer's."""
        return int(self.model.config.num_hidden_layers) + 1

    def prompt_state(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[dict[str, Any]] | None = None,
        layer: int = -1,
    ) -> NDArray[np.float32]:
        """Layer `layer`'s hidden state at the prompt's last token (what `generate` with
        `hidden_states` reports as `HiddenStates.prompt`), from one forward pass."""
        from_end(layer, self._state_entries)
        input_ids = self.encode(messages, tools)
        window = self._capabilities.context_window
        if window and int(input_ids.shape[1]) > window:
            raise PromptTooLongError(int(input_ids.shape[1]), window)
        with self._lock:
            return last_token_state(self.model, input_ids, layer)

    @property
    def model_sha256(self) -> str:
        """The SHA-256 of the loaded weights (a bundled model's pinned one): what a probe on
        this model's hidden states is tied to."""
        if self.path is None:
            raise ConfigurationError("model", "the model's weights path is unknown")
        return weights_sha256(self.path)

    def __repr__(self) -> str:
        return f"TransformersModel(model={self._name!r}, device={self.device!r})"

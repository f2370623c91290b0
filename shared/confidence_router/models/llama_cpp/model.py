"""In-process edge backend on llama.cpp's low-level API: any GGUF file or bundled model."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import os
import threading
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from confidence_router.errors import (
    CapabilityError,
    ConfigurationError,
    InvalidInputError,
    ModelLoadError,
    PromptTooLongError,
)
from confidence_router.generation import Answer, Generation, GenerationOptions, Usage
from confidence_router.messages import ChatMessage, ToolCall
from confidence_router.models.base import Capabilities, ChatBackend
from confidence_router.models.bundled import DEFAULT_EDGE, resolve_model_path, weights_sha256
from confidence_router.models.chat_template import ChatTemplate
from confidence_router.models.llama_cpp.jobs import GenerateJob, LogitsJob, RowResult, StateJob
from confidence_router.models.llama_cpp.quantize import requantized_path
from confidence_router.models.llama_cpp.runtime import LlamaRuntime
from confidence_router.models.llama_cpp.sampling import log_softmax
from confidence_router.models.llama_cpp.scheduler import Scheduler
from confidence_router.statistics import Statistic
from confidence_router.tools.parsing import answer_focus, parse_tool_calls, tool_names

Requantize = Literal["q8_0", "q4_0", "q4_k_m", "f16", "bf16"]
_MAX_ROWS = 65  # greedy + GenerationOptions.num_samples' upper bound


def _is_gguf(path: Path) -> bool:
    """A file that starts with the GGUF magic (checked before llama.cpp sees it)."""
    try:
        with path.open("rb") as fh:
            return path.is_file() and fh.read(4) == b"GGUF"
    except OSError:
        return False


class LlamaCppModel(ChatBackend):
    """An edge model running in-process on llama.cpp (CPU).

    `model` is a bundled model name (default `smollm2-135m-instruct`) or a `.gguf` file. The
    prompt is rendered from the GGUF's own chat template (`ChatTemplate`) and tokenized with
    llama.cpp's vocabulary: no Hugging Face tokenizer is built, so loading takes well under a
    second. `requantize="q8_0"` converts the file once into the cache folder and loads that.

    `generate` returns the greedy answer with, per token, the log-prob and the entropy of the
    model's raw distribution over the whole vocabulary, and `options.num_samples` samples
    (temperature / top-p, their log-probs raw too) decoded with it as sequences of the same
    batch after one evaluation of the prompt. Early exit, deadlines, stop strings, seeds, tool
    calls and `probability_of` behave as in `TransformersModel`. With `options.hidden_states`
    every answer also carries the last layer's hidden states from the same decode
    (`Answer.hidden`); `prompt_state` prefills a prompt alone for its last token's state.

    Concurrency: any number of threads may call `generate` at once; a scheduler thread decodes
    every running request's sequences in one `llama_decode` per step and admits new requests
    between steps (continuous batching, at most `max_sequences` sequences at a time unless one
    request needs more alone). A request alone starts at once. `n_ctx` (at most the model's
    training context) is the context window and the number of KV cells all sequences share: a
    request with several rows gets a token cap of 1 + (n_ctx - prompt) / rows at most.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] = DEFAULT_EDGE,
        *,
        n_ctx: int = 8192,
        n_threads: int | None = None,
        n_batch: int = 512,
        max_sequences: int = 16,
        name: str | None = None,
        seed: int | None = None,
        requantize: Requantize | None = None,
        verbose: bool = False,
    ) -> None:
        path = resolve_model_path(model)
        if not _is_gguf(path):
            raise ModelLoadError(f"{path}: not a GGUF model file")
        threads = n_threads if n_threads is not None else (os.cpu_count() or 1)
        for field, value, low in (
            ("n_ctx", n_ctx, 16),
            ("n_threads", threads, 1),
            ("max_sequences", max_sequences, 1),
        ):
            if value < low:
                raise ConfigurationError(field, f"must be >= {low}, got {value}")
        seq_max = max(max_sequences, _MAX_ROWS)
        if n_batch < seq_max:
            raise ConfigurationError("n_batch", f"must be >= {seq_max} (one token per sequence)")
        self.source_path = path
        if requantize is not None:
            path = requantized_path(path, requantize, threads)
        self.path = path
        self._name = name or self.source_path.stem
        runtime = LlamaRuntime(
            path,
            n_ctx=n_ctx,
            n_threads=threads,
            n_batch=n_batch,
            n_seq_max=seq_max,
            verbose=verbose,
        )
        self._runtime = runtime
        try:
            source = runtime.chat_template()
            if not source:
                raise ModelLoadError(f"{path}: the GGUF has no chat template")
            self.template = ChatTemplate(
                source,
                bos_token=runtime.special_text(runtime.bos),
                eos_token=runtime.special_text(runtime.eos),
            )
        except InvalidInputError as exc:
            runtime.close()
            raise ModelLoadError(f"{path}: unusable chat template: {exc}") from exc
        except BaseException:
            runtime.close()
            raise
        self._scheduler = Scheduler(runtime, max_sequences, self._name)
        self._seeds = np.random.default_rng(seed)
        self._seed_lock = threading.Lock()
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._finalizer = weakref.finalize(self, self._scheduler.close)
        self._capabilities = Capabilities(
            statistics=frozenset(Statistic),
            tools=self.template.supports_tools,
            context_window=runtime.n_ctx,
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

    @property
    def scheduler(self) -> Scheduler:
        """The continuous-batching scheduler (its `jobs_per_step` shows how requests batched)."""
        return self._scheduler

    # -- prompts and tokens --

    def render(
        self, messages: Sequence[ChatMessage], tools: Sequence[dict[str, Any]] | None = None
    ) -> str:
        """The prompt text: the conversation through the chat template, generation prompt on."""
        offered = tools if tools and self.template.supports_tools else None
        return self.template.render(messages, offered, add_generation_prompt=True)

    def encode(
        self, messages: Sequence[ChatMessage], tools: Sequence[dict[str, Any]] | None = None
    ) -> list[int]:
        """Prompt token ids of the conversation (special tokens parsed, none added)."""
        return self._runtime.tokenize(self.render(messages, tools))

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return len(self.encode(messages))

    def count_text_tokens(self, text: str) -> int:
        return len(self._runtime.tokenize(text))

    def detokenize(self, tokens: Sequence[int]) -> str:
        """The text of token ids (special tokens left out)."""
        return self._runtime.detokenize(tokens)

    # -- generation --

    def _rng(self, seed: int | None) -> np.random.Generator:
        if seed is not None:
            return np.random.default_rng(seed)
        with self._seed_lock:
            return np.random.default_rng(int(self._seeds.integers(2**63)))

    def generate(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Generation:
        options = options or GenerationOptions()
        if options.hidden_states:
            self._check_layer(options.hidden_layer)
        prompt = self.encode(messages, tools)
        window = self._runtime.n_ctx
        if len(prompt) + 1 > window:
            raise PromptTooLongError(len(prompt), window)
        # the window holds prompt + answer, and the KV cells the prompt + every row's answer
        # but its last token (never fed back)
        rows = options.num_samples + int(not options.samples_only)
        room = window - len(prompt)
        max_new = min(options.max_new_tokens, room, 1 + room // rows)
        job = GenerateJob(
            prompt,
            options,
            max_new=max_new,
            rng=self._rng(options.seed),
            is_end=self._runtime.is_end,
            piece=self._runtime.piece,
        )
        results: list[RowResult] = self._scheduler.run(job)
        answers = [self._answer(r, tools, options.stop) for r in results]
        generated = sum(a.num_tokens for a in answers)
        if options.samples_only:
            answers.insert(0, Answer(text=""))
        return Generation(
            greedy=answers[0],
            samples=tuple(answers[1:]),
            usage=Usage(input_tokens=len(prompt), output_tokens=generated),
            model=self._name,
        )

    def _answer(
        self, row: RowResult, tools: Sequence[dict[str, Any]] | None, stop: Sequence[str]
    ) -> Answer:
        """A finished row as an answer: stop strings cut, tool calls parsed (as transformers)."""
        ids = list(row.tokens)
        raw = self._runtime.detokenize(ids)
        finish = row.finish
        at = min((raw.find(s) for s in stop if s and s in raw), default=-1)
        if at >= 0:
            raw, finish = raw[:at], "stop"
        text = raw.strip()
        calls: tuple[ToolCall, ...] = ()
        focus: tuple[bool, ...] = ()
        if tools and self.template.supports_tools:
            text, calls = parse_tool_calls(text, tool_names(tools))
            if calls:
                finish = "tool_calls"
        if calls or "Action:" in raw:  # a tool call or a ReAct step: scored on its action
            ends = [len(self._runtime.detokenize(ids[: i + 1])) for i in range(len(ids))]
            focus = answer_focus(raw, ends, calls)
        return Answer(
            text=text,
            token_ids=row.tokens,
            token_logprobs=row.logprobs,
            token_entropies=row.entropies,
            tool_calls=calls,
            finish_reason=finish,
            focus=focus,
            hidden=row.hidden,
        )

    async def agenerate(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Generation:
        """`generate` in a thread of the model's own pool, large enough for a full batch."""
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=self._scheduler.max_sequences + 2, thread_name_prefix="llama-cpp"
            )
            weakref.finalize(self, self._executor.shutdown, wait=False)
        loop = asyncio.get_running_loop()
        call = functools.partial(self.generate, messages, options, tools)
        return await loop.run_in_executor(self._executor, call)

    # -- scoring --

    def logits(self, tokens: Sequence[int], positions: Sequence[int]) -> NDArray[np.float32]:
        """Raw logits (len(positions), vocab) of one teacher-forced pass over `tokens`: row i
        is the distribution of the token after position `positions[i]` (sorted, distinct)."""
        if not tokens:
            raise InvalidInputError("logits: no tokens")
        if len(tokens) > self._runtime.n_ctx:
            raise PromptTooLongError(len(tokens), self._runtime.n_ctx)
        if any(p < 0 or p >= len(tokens) for p in positions):
            raise InvalidInputError("logits: a position is outside the tokens")
        result: NDArray[np.float32] = self._scheduler.run(LogitsJob(tokens, positions))
        return result

    def probability_of(self, messages: Sequence[ChatMessage], continuation: str) -> float:
        """P(reply starts with `continuation` | messages): the conversation with the generation
        prompt, the continuation's tokens appended, the product of their raw probabilities,
        from one decode. The `TokenProbabilityScorer` protocol, used by `PTrue`."""
        prompt = self.encode(messages)
        ids = self._runtime.tokenize(continuation)
        if not ids:
            raise InvalidInputError("probability_of: the continuation has no tokens")
        total = len(prompt) + len(ids)
        if total > self._runtime.n_ctx:
            raise PromptTooLongError(total, self._runtime.n_ctx)
        logits = self.logits(prompt + ids, range(len(prompt) - 1, total - 1))
        logp = log_softmax(logits)[np.arange(len(ids)), ids]
        return float(np.exp(logp.sum()))

    # -- hidden states --

    def _check_layer(self, layer: int) -> None:
        if layer not in (-1, self._runtime.n_layer):
            raise CapabilityError(
                f"llama.cpp supplies the last layer's hidden states only (hidden_layer=-1), "
                f"not layer {layer}; TransformersModel supplies any layer"
            )

    def prompt_state(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[dict[str, Any]] | None = None,
        layer: int = -1,
    ) -> NDArray[np.float32]:
        """The last layer's hidden state at the prompt's last token (the state `generate` with
        `hidden_states` reports as `HiddenStates.prompt`), from a prefill alone: no token is
        chosen."""
        self._check_layer(layer)
        prompt = self.encode(messages, tools)
        if len(prompt) > self._runtime.n_ctx:
            raise PromptTooLongError(len(prompt), self._runtime.n_ctx)
        state: NDArray[np.float32] = self._scheduler.run(StateJob(prompt))
        return state

    @property
    def model_sha256(self) -> str:
        """The SHA-256 of the loaded GGUF file (a bundled model's pinned one): what a probe on
        this model's hidden states is tied to."""
        return weights_sha256(self.path)

    # -- lifecycle --

    @contextlib.contextmanager
    def exclusive_runtime(self) -> Iterator[LlamaRuntime]:
        """The llama.cpp runtime for direct use while no request runs (benchmarks, tests)."""
        with self._scheduler.exclusive() as runtime:
            yield runtime

    def close(self) -> None:
        """Stop the scheduler and the worker pool, free the model (a later call raises)."""
        self._finalizer()  # requests still waiting fail at once
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def __repr__(self) -> str:
        return f"LlamaCppModel(model={self._name!r}, path={str(self.path)!r})"

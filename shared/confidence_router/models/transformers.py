"""In-process edge backend over Hugging Face `transformers`: any local model folder or GGUF."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import inspect
import json
import os
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    DynamicCache,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)

from confidence_router.errors import (
    ConfigurationError,
    DeadlineExceededError,
    InvalidInputError,
    ModelLoadError,
    PromptTooLongError,
)
from confidence_router.generation import (
    DEADLINE,
    EARLY_EXIT,
    Answer,
    Generation,
    GenerationOptions,
    Usage,
    seconds_left,
)
from confidence_router.messages import ChatMessage, ToolCall
from confidence_router.models.base import Capabilities, ChatBackend
from confidence_router.models.batch_queue import BatchQueue
from confidence_router.models.bundled import DEFAULT_EDGE, resolve_model_path
from confidence_router.models.tool_parsing import answer_focus, parse_tool_calls, tool_names
from confidence_router.uncertainty.running_confidence import RunningConfidence
from confidence_router.uncertainty.statistics import Statistic

DType = Literal["auto", "float32", "bfloat16", "float16"]
_END_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>")


class _StepStatistics(LogitsProcessor):  # type: ignore[misc]
    """Records, for every row and step, the log-prob of the chosen token and the step's entropy.

    It sees the raw logits (it runs before any temperature / top-p warper), keeps one step's
    log-softmax to look up the token chosen at that step when the next step starts, and so never
    holds more than one (batch, vocab) tensor.
    """

    def __init__(self, want_entropy: bool) -> None:
        self.want_entropy = want_entropy
        self.logprobs: list[torch.Tensor] = []
        self.entropies: list[torch.Tensor] = []
        self._previous: torch.Tensor | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        self.observe(input_ids[:, -1])
        logp = torch.log_softmax(scores.float(), dim=-1)
        if self.want_entropy:
            p = logp.exp()
            self.entropies.append(-(p * torch.where(p > 0, logp, 0.0)).sum(-1))
        self._previous = logp
        return scores

    def observe(self, chosen: torch.Tensor) -> None:
        """Record the log-probs of the tokens just chosen, unless already recorded (a stopping
        criterion needs them before the next step's call)."""
        if self._previous is not None:
            self.logprobs.append(self._previous.gather(1, chosen[:, None]).squeeze(1))
            self._previous = None

    def finish(self, last_tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(batch, steps) log-probs and entropies once generation has ended."""
        self.observe(last_tokens)
        logprobs = torch.stack(self.logprobs, dim=1)
        entropies = torch.stack(self.entropies, dim=1) if self.entropies else None
        return logprobs, entropies


class _GreedyFirstRow(LogitsProcessor):  # type: ignore[misc]
    """Makes row 0 of a sampled batch greedy, so one `generate` call yields greedy + samples."""

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        forced = torch.full_like(scores[0], float("-inf"))
        forced[scores[0].argmax()] = 0.0
        scores = scores.clone()
        scores[0] = forced
        return scores


class _EarlyExit(StoppingCriteria):  # type: ignore[misc]
    """Stops the whole batch once the greedy row's running confidence falls below the floor.

    It reads the log-prob `_StepStatistics` recorded for the token just chosen (the raw
    distribution's); the greedy row is row 0. Once that row has ended (an end or pad token), it
    never fires. On exit the sampled rows stop too: the request escalates, so they are not needed.
    """

    def __init__(
        self, recorder: _StepStatistics, running: RunningConfidence, done_ids: set[int]
    ) -> None:
        self.recorder = recorder
        self.running = running
        self.done_ids = done_ids
        self.exited = False
        self._greedy_done = False

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        self.recorder.observe(input_ids[:, -1])
        if not (self.exited or self._greedy_done):
            if int(input_ids[0, -1]) in self.done_ids:
                self._greedy_done = True
            else:
                self.exited = self.running.push(float(self.recorder.logprobs[-1][0]))
        return torch.full(
            (input_ids.shape[0],), self.exited, dtype=torch.bool, device=input_ids.device
        )


class _Deadline(StoppingCriteria):  # type: ignore[misc]
    """Stops the whole batch once the request's deadline (a `time.monotonic()` instant) passes."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        self.fired = self.fired or time.monotonic() >= self.deadline
        return torch.full(
            (input_ids.shape[0],), self.fired, dtype=torch.bool, device=input_ids.device
        )


def _cache_keyword(method: Any) -> str:
    """The name `method` takes a KV cache under: `cache` in the transformers releases that
    deprecate `past_key_values` (a warning on every call), `past_key_values` before them."""
    try:
        parameters = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return "past_key_values"
    return "cache" if "cache" in parameters else "past_key_values"


@dataclass(frozen=True)
class _Request:
    """A queued greedy request: its encoded prompt, options and tools."""

    input_ids: torch.Tensor
    options: GenerationOptions
    tools: Sequence[dict[str, Any]] | None


class TransformersModel(ChatBackend):
    """An edge model running in-process on CPU (or any torch device).

    `model` is a bundled model name (default `smollm2-135m-instruct`), a `.gguf` file, or a local
    Hugging Face model folder (with `gguf_file=` naming a GGUF inside it). Nothing is downloaded.

    One `generate` call returns the greedy answer with per-token log-probs and per-step entropies
    and, when `options.num_samples` > 0, that many sampled answers from the same batched decode:
    the prompt is encoded and prefilled once and its cache shared by every row. With
    `options.samples_only` only the samples are decoded; with `options.early_exit_floor` the
    decode stops once the greedy row's running confidence falls below it (finish_reason
    "early_exit"). `probability_of` scores a fixed reply (the `PTrue` scorer).

    `dtype` defaults to float32: on CPU a GGUF model's de-quantised weights compute fastest in it
    (bfloat16 casts every matmul's input and output; measured here, float32 prefills about 5x
    faster and decodes a 16-row batch about 3.5x faster; one greedy row decodes about 15%
    slower).

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
        dtype: DType = "float32",
        device: str = "cpu",
        num_threads: int | None = None,
        name: str | None = None,
        batching: bool = True,
        max_batch_size: int = 16,
    ) -> None:
        path = resolve_model_path(model)
        folder, gguf = (path.parent, path.name) if path.is_file() else (path, gguf_file)
        if path.is_file() and path.suffix != ".gguf":
            raise ConfigurationError("model", f"{path} is a file but not a .gguf model")
        if num_threads is not None:
            if num_threads < 1:
                raise ConfigurationError("num_threads", "must be >= 1")
            torch.set_num_threads(num_threads)
        self._name = name or (Path(gguf).stem if gguf else folder.name)
        kwargs: dict[str, Any] = {"local_files_only": True}
        if gguf:
            kwargs["gguf_file"] = gguf
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(folder), **kwargs)
            torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
            self.model = AutoModelForCausalLM.from_pretrained(
                str(folder), dtype=torch_dtype, **kwargs
            ).to(device)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"could not load edge model from {path}: {exc}") from exc
        self.model.eval()
        self.device = device
        template = self.tokenizer.chat_template or ""
        if not template:
            raise ModelLoadError(f"{path}: the tokenizer has no chat template")
        self._template_tools = "tools" in template
        self._end_ids = self._collect_end_ids()
        # `generate` hides its keywords behind **kwargs: it follows `forward`'s rename
        self._cache_kw = _cache_keyword(self.model.forward)
        self._lock = threading.Lock()
        if max_batch_size < 1:
            raise ConfigurationError("max_batch_size", f"must be >= 1, got {max_batch_size}")
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._queue: BatchQueue[_Request, Generation] | None = (
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

    def _collect_end_ids(self) -> list[int]:
        ids: set[int] = set()
        configured = self.model.generation_config.eos_token_id
        if isinstance(configured, int):
            ids.add(configured)
        elif configured:
            ids.update(int(i) for i in configured)
        if self.tokenizer.eos_token_id is not None:
            ids.add(int(self.tokenizer.eos_token_id))
        vocab = self.tokenizer.get_vocab()
        ids.update(vocab[t] for t in _END_TOKENS if t in vocab)
        return sorted(ids)

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

    @contextlib.contextmanager
    def _locked(self, deadline: float | None) -> Iterator[None]:
        """The model lock (one generation at a time), waited for until `deadline` at most."""
        left = seconds_left(deadline)
        if left is not None and (left <= 0 or not self._lock.acquire(timeout=left)):
            raise DeadlineExceededError(
                f"edge model {self._name!r}: the deadline passed before the model was free",
                tier="edge",
            )
        if left is None:
            self._lock.acquire()
        try:
            yield
        finally:
            self._lock.release()

    @contextlib.contextmanager
    def _seeded(self, seed: int | None) -> Iterator[None]:
        if seed is None:
            yield
            return
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield

    def generate(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Generation:
        options = options or GenerationOptions()
        input_ids = self.encode(messages, tools)
        prompt_len = int(input_ids.shape[1])
        window = self._capabilities.context_window
        if window and prompt_len + 1 > window:
            raise PromptTooLongError(prompt_len, window)
        if self._queue is not None and self._batchable(options, prompt_len):
            key = (
                options.model_dump_json(),
                json.dumps(list(tools or ()), sort_keys=True, default=str),
            )
            return self._queue.submit(_Request(input_ids, options, tools), key)
        with self._locked(options.deadline):
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

    @property
    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return int(pad) if pad is not None else self._end_ids[0]

    def _batchable(self, options: GenerationOptions, prompt_len: int) -> bool:
        """Plain greedy requests (no samples, early exit, seed or deadline) whose token cap fits
        the context window may share a batched decode."""
        window = self._capabilities.context_window
        return (
            options.num_samples == 0
            and options.early_exit_floor is None
            and options.seed is None
            and options.deadline is None
            and (not window or prompt_len + options.max_new_tokens <= window)
        )

    def _decode(
        self,
        input_ids: torch.Tensor,
        options: GenerationOptions,
        tools: Sequence[dict[str, Any]] | None,
    ) -> Generation:
        """One request's generation (the caller holds the model lock)."""
        prompt_len = int(input_ids.shape[1])
        window = self._capabilities.context_window
        max_new = (
            min(options.max_new_tokens, window - prompt_len) if window else options.max_new_tokens
        )
        greedy_row = not options.samples_only
        rows = options.num_samples + int(greedy_row)
        sampling = rows > 1 or not greedy_row
        recorder = _StepStatistics(want_entropy=True)
        processors = LogitsProcessorList([recorder])
        pad_id = self._pad_id
        config = GenerationConfig(
            max_new_tokens=max_new,
            do_sample=sampling,
            eos_token_id=self._end_ids,
            return_dict_in_generate=True,
            pad_token_id=pad_id,
        )
        if options.stop:
            config.stop_strings = list(options.stop)
        if sampling:
            config.temperature = options.temperature
            config.top_p = options.top_p
            config.top_k = 0
            if greedy_row:
                processors.append(_GreedyFirstRow())
        early_exit: _EarlyExit | None = None
        if options.early_exit_floor is not None and greedy_row:
            running = RunningConfidence(
                options.early_exit_floor,
                min_tokens=options.early_exit_min_tokens,
                window=options.early_exit_window,
            )
            early_exit = _EarlyExit(recorder, running, {*self._end_ids, int(pad_id)})
        criteria: list[StoppingCriteria] = [early_exit] if early_exit else []
        deadline = _Deadline(options.deadline) if options.deadline is not None else None
        if deadline is not None:
            criteria.append(deadline)
        with torch.inference_mode(), self._seeded(options.seed):
            cache = DynamicCache(config=self.model.config)
            if prompt_len > 1:
                self.model(input_ids[:, :-1], use_cache=True, **{self._cache_kw: cache})
                if rows > 1:
                    cache.batch_repeat_interleave(rows)
            batch_ids = input_ids.expand(rows, -1)
            out = self.model.generate(
                input_ids=batch_ids,
                attention_mask=torch.ones_like(batch_ids),
                **{self._cache_kw: cache},
                generation_config=config,
                logits_processor=processors,
                stopping_criteria=StoppingCriteriaList(criteria),
                tokenizer=self.tokenizer if options.stop else None,
            )
        new_tokens = out.sequences[:, prompt_len:]
        logprobs, entropies = recorder.finish(new_tokens[:, -1])
        cut = "length"
        if early_exit is not None and early_exit.exited:
            cut = EARLY_EXIT
        elif deadline is not None and deadline.fired:
            cut = DEADLINE
        answers = [
            self._answer(
                new_tokens[i],
                logprobs[i],
                entropies[i] if entropies is not None else None,
                tools,
                options.stop,
                cut,
            )
            for i in range(rows)
        ]
        generated = sum(a.num_tokens for a in answers)
        if not greedy_row:
            answers.insert(0, Answer(text=""))
        return Generation(
            greedy=answers[0],
            samples=tuple(answers[1:]),
            usage=Usage(input_tokens=prompt_len, output_tokens=generated),
            model=self._name,
        )

    def _decode_batch(self, requests: Sequence[_Request]) -> list[Generation]:
        """Greedy generations of several same-option requests in one left-padded decode (the
        caller holds the model lock). One request is decoded as `generate` would alone."""
        if len(requests) == 1:
            only = requests[0]
            return [self._decode(only.input_ids, only.options, only.tools)]
        options, tools = requests[0].options, requests[0].tools
        lengths = [int(r.input_ids.shape[1]) for r in requests]
        width = max(lengths)
        pad_id = self._pad_id
        fill = pad_id if pad_id >= 0 else 0  # masked positions: any valid token id
        ids = torch.full((len(requests), width), fill, dtype=torch.long, device=self.device)
        mask = torch.zeros_like(ids)
        for row, (request, length) in enumerate(zip(requests, lengths, strict=True)):
            ids[row, width - length :] = request.input_ids[0]
            mask[row, width - length :] = 1
        recorder = _StepStatistics(want_entropy=True)
        config = GenerationConfig(
            max_new_tokens=options.max_new_tokens,
            do_sample=False,
            eos_token_id=self._end_ids,
            return_dict_in_generate=True,
            pad_token_id=pad_id,
        )
        if options.stop:
            config.stop_strings = list(options.stop)
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=ids,
                attention_mask=mask,
                generation_config=config,
                logits_processor=LogitsProcessorList([recorder]),
                tokenizer=self.tokenizer if options.stop else None,
            )
        new_tokens = out.sequences[:, width:]
        logprobs, entropies = recorder.finish(new_tokens[:, -1])
        generations = []
        for row, length in enumerate(lengths):
            answer = self._answer(
                new_tokens[row],
                logprobs[row],
                entropies[row] if entropies is not None else None,
                tools,
                options.stop,
            )
            generations.append(
                Generation(
                    greedy=answer,
                    usage=Usage(input_tokens=length, output_tokens=answer.num_tokens),
                    model=self._name,
                )
            )
        return generations

    def _answer(
        self,
        tokens: torch.Tensor,
        logprobs: torch.Tensor,
        entropies: torch.Tensor | None,
        tools: Sequence[dict[str, Any]] | None,
        stop: Sequence[str] = (),
        cut: str = "length",
    ) -> Answer:
        """One row as an answer; `cut` is the finish reason when no end token was produced."""
        ids = tokens.tolist()
        length, finish = len(ids), cut
        for i, tok in enumerate(ids):
            if tok in self._end_ids:
                length, finish = i, "stop"
                break
        raw = self.tokenizer.decode(ids[:length], skip_special_tokens=True)
        at = min((raw.find(s) for s in stop if s in raw), default=-1)
        if at >= 0:
            raw, finish = raw[:at], "stop"
        text = raw.strip()
        calls: tuple[ToolCall, ...] = ()
        focus: tuple[bool, ...] = ()
        if tools and self._template_tools:
            text, calls = parse_tool_calls(text, tool_names(tools))
            if calls:
                finish = "tool_calls"
        if calls or "Action:" in raw:  # a tool call or a ReAct step: scored on its action
            ends = [
                len(self.tokenizer.decode(ids[: i + 1], skip_special_tokens=True))
                for i in range(length)
            ]
            focus = answer_focus(raw, ends, calls)
        return Answer(
            text=text,
            token_ids=tuple(ids[:length]),
            token_logprobs=tuple(logprobs[:length].tolist()),
            token_entropies=tuple(entropies[:length].tolist()) if entropies is not None else (),
            tool_calls=calls,
            finish_reason=finish,
            focus=focus,
        )

    def probability_of(self, messages: Sequence[ChatMessage], continuation: str) -> float:
        """P(reply starts with `continuation` | messages): the conversation with the generation
        prompt (as `encode`), the continuation's tokens appended (tokenized on their own, no
        special tokens), the product of their probabilities at temperature 1, from one forward
        pass. The `TokenProbabilityScorer` protocol, used by `PTrue`."""
        prompt = self.encode(messages)
        ids = self.tokenizer.encode(continuation, add_special_tokens=False)
        if not ids:
            raise InvalidInputError("probability_of: the continuation has no tokens")
        prompt_len = int(prompt.shape[1])
        window = self._capabilities.context_window
        if window and prompt_len + len(ids) > window:
            raise PromptTooLongError(prompt_len + len(ids), window)
        targets = torch.tensor([ids], dtype=prompt.dtype, device=prompt.device)
        # only the positions that predict the continuation: the vocabulary projection over the
        # whole prompt would cost more than the rest of the pass for a long prompt
        keep = len(ids) + 1
        with self._lock, torch.inference_mode():
            logits = self.model(torch.cat([prompt, targets], dim=1), logits_to_keep=keep).logits
        logp = torch.log_softmax(logits[0, -keep:-1].float(), dim=-1)
        total = logp.gather(1, targets[0][:, None]).sum()
        return float(total.exp())

    def __repr__(self) -> str:
        return f"TransformersModel(model={self._name!r}, device={self.device!r})"

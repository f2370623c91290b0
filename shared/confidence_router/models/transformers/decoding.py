"""Decoding: one request (a greedy row and samples from one prefilled prompt) or several greedy
requests in one left-padded batch, both under the same generation config."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import (
    DynamicCache,
    GenerationConfig,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)

from confidence_router.generation import (
    DEADLINE,
    EARLY_EXIT,
    Answer,
    Generation,
    GenerationOptions,
    Usage,
)
from confidence_router.models.transformers.admission import Request, left_pad
from confidence_router.models.transformers.answers import assemble_answer
from confidence_router.models.transformers.hooks import (
    Deadline,
    EarlyExit,
    GreedyFirstRow,
    StepStatistics,
)
from confidence_router.models.transformers.states import with_states
from confidence_router.running_confidence import RunningConfidence


def generation_config(
    options: GenerationOptions,
    *,
    max_new_tokens: int,
    sampling: bool,
    end_ids: Sequence[int],
    pad_id: int,
) -> GenerationConfig:
    """The `generate` config of a decode: its token cap, end and pad ids, stop strings, and the
    sampling temperature and top-p (no top-k) when it samples."""
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=sampling,
        eos_token_id=end_ids,
        return_dict_in_generate=True,
        pad_token_id=pad_id,
    )
    if options.stop:
        config.stop_strings = list(options.stop)
    if options.hidden_states:
        config.output_hidden_states = True
    if sampling:
        config.temperature = options.temperature
        config.top_p = options.top_p
        config.top_k = 0
    return config


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Torch's CPU generator seeded with `seed` inside, restored after (nothing when None)."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@dataclass(frozen=True)
class Decoder:
    """What a decode reads of the model, taken when it starts (the caller holds the lock)."""

    model: Any
    tokenizer: Any
    device: str
    name: str
    cache_kw: str  # the keyword `generate` takes the KV cache under
    end_ids: Sequence[int]
    window: int | None  # the context window
    tools_in_template: bool

    @property
    def pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return int(pad) if pad is not None else self.end_ids[0]

    def _answer(
        self,
        tokens: torch.Tensor,
        logprobs: torch.Tensor,
        entropies: torch.Tensor | None,
        tools: Sequence[dict[str, Any]] | None,
        stop: Sequence[str] = (),
        cut: str = "length",
    ) -> Answer:
        offered = tools if self.tools_in_template else None
        return assemble_answer(
            self.tokenizer, self.end_ids, tokens, logprobs, entropies, offered, stop, cut
        )

    def decode(
        self,
        input_ids: torch.Tensor,
        options: GenerationOptions,
        tools: Sequence[dict[str, Any]] | None,
    ) -> Generation:
        """One request's generation: the prompt prefilled once, its cache shared by the greedy
        row (unless `samples_only`) and `num_samples` sampled rows."""
        prompt_len = int(input_ids.shape[1])
        window = self.window
        max_new = (
            min(options.max_new_tokens, window - prompt_len) if window else options.max_new_tokens
        )
        greedy_row = not options.samples_only
        rows = options.num_samples + int(greedy_row)
        sampling = rows > 1 or not greedy_row
        recorder = StepStatistics(want_entropy=True)
        processors = LogitsProcessorList([recorder])
        pad_id = self.pad_id
        config = generation_config(
            options, max_new_tokens=max_new, sampling=sampling, end_ids=self.end_ids, pad_id=pad_id
        )
        if sampling and greedy_row:
            processors.append(GreedyFirstRow())
        early_exit: EarlyExit | None = None
        if options.early_exit_floor is not None and greedy_row:
            running = RunningConfidence(
                options.early_exit_floor,
                min_tokens=options.early_exit_min_tokens,
                window=options.early_exit_window,
            )
            early_exit = EarlyExit(recorder, running, {*self.end_ids, int(pad_id)})
        criteria: list[StoppingCriteria] = [early_exit] if early_exit else []
        deadline = Deadline(options.deadline) if options.deadline is not None else None
        if deadline is not None:
            criteria.append(deadline)
        with torch.inference_mode(), seeded(options.seed):
            cache = DynamicCache(config=self.model.config)
            if prompt_len > 1:
                self.model(input_ids[:, :-1], use_cache=True, **{self.cache_kw: cache})
                if rows > 1:
                    cache.batch_repeat_interleave(rows)
            batch_ids = input_ids.expand(rows, -1)
            out = self.model.generate(
                input_ids=batch_ids,
                attention_mask=torch.ones_like(batch_ids),
                **{self.cache_kw: cache},
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
        if options.hidden_states:
            answers = with_states(answers, out.hidden_states, options.hidden_layer)
        generated = sum(a.num_tokens for a in answers)
        if not greedy_row:
            answers.insert(0, Answer(text=""))
        return Generation(
            greedy=answers[0],
            samples=tuple(answers[1:]),
            usage=Usage(input_tokens=prompt_len, output_tokens=generated),
            model=self.name,
        )

    def decode_batch(self, requests: Sequence[Request]) -> list[Generation]:
        """Greedy generations of several same-option requests in one left-padded decode. One
        request is decoded as `decode` would alone."""
        if len(requests) == 1:
            only = requests[0]
            return [self.decode(only.input_ids, only.options, only.tools)]
        options, tools = requests[0].options, requests[0].tools
        pad_id = self.pad_id
        ids, mask = left_pad(requests, pad_id, self.device)
        recorder = StepStatistics(want_entropy=True)
        config = generation_config(
            options,
            max_new_tokens=options.max_new_tokens,
            sampling=False,
            end_ids=self.end_ids,
            pad_id=pad_id,
        )
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=ids,
                attention_mask=mask,
                generation_config=config,
                logits_processor=LogitsProcessorList([recorder]),
                tokenizer=self.tokenizer if options.stop else None,
            )
        new_tokens = out.sequences[:, ids.shape[1] :]
        logprobs, entropies = recorder.finish(new_tokens[:, -1])
        answers = [
            self._answer(
                new_tokens[row],
                logprobs[row],
                entropies[row] if entropies is not None else None,
                tools,
                options.stop,
            )
            for row in range(len(requests))
        ]
        if options.hidden_states:  # left-padded: every prompt ends at the last position
            answers = with_states(answers, out.hidden_states, options.hidden_layer)
        generations = []
        for answer, request in zip(answers, requests, strict=True):
            usage = Usage(
                input_tokens=int(request.input_ids.shape[1]), output_tokens=answer.num_tokens
            )
            generations.append(Generation(greedy=answer, usage=usage, model=self.name))
        return generations

"""llama.cpp's low-level API for one model: the model, its vocabulary, one multi-sequence context
and one token batch.

The context is built with `llama_context_default_params` (the high-level `Llama` class sets
`n_seq_max` only in embedding mode) and a unified KV cache: every sequence shares the `n_ctx`
cells, and `seq_cp` makes a prompt's cells belong to more sequences without copying them.
Hidden states: the context has no pooling, and `set_embeddings(True)` before a decode makes it
return the last layer's state (after the final norm) of every token of the batch as well as its
logits; llama.cpp then outputs every token, so `TokenBatch.output_rows` picks the marked ones.
Not thread-safe: one thread (the scheduler's) drives decoding; tokenizing is safe from any thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import llama_cpp
import numpy as np
from numpy.typing import NDArray

from confidence_router.errors import BackendError, ModelLoadError
from confidence_router.models.ggml_cpu import prepare_llama_cpp

_init_lock = threading.Lock()
_initialised = False


def _init_backend(verbose: bool) -> None:
    """Initialise llama.cpp once per process; keep its log quiet unless asked (or configured)."""
    global _initialised
    logger = logging.getLogger("llama-cpp-python")
    if verbose:
        logger.setLevel(logging.DEBUG)
    elif logger.level == logging.NOTSET:  # llama-cpp-python prints every log line at NOTSET
        logger.setLevel(logging.ERROR)
    with _init_lock:
        if not _initialised:
            llama_cpp.llama_backend_init()
            _initialised = True


class TokenBatch:
    """A reusable `llama_batch` of up to `capacity` tokens, one sequence id each."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.raw = llama_cpp.llama_batch_init(capacity, 0, 1)
        self._token = np.ctypeslib.as_array(self.raw.token, shape=(capacity,))
        self._pos = np.ctypeslib.as_array(self.raw.pos, shape=(capacity,))
        self._n_seq = np.ctypeslib.as_array(self.raw.n_seq_id, shape=(capacity,))
        self._logits = np.ctypeslib.as_array(self.raw.logits, shape=(capacity,))
        self._seq = [self.raw.seq_id[i] for i in range(capacity)]
        self.size = 0
        self.outputs = 0
        self.output_rows: list[int] = []  # the batch index of each marked output, in order

    @property
    def free(self) -> int:
        return self.capacity - self.size

    def clear(self) -> None:
        self.size = 0
        self.outputs = 0
        self.output_rows = []
        self.raw.n_tokens = 0

    def output_all(self) -> None:
        """Mark every token as an output (llama.cpp's rule when it returns hidden states); the
        marked ones stay in `output_rows`."""
        self._logits[: self.size] = 1

    def add(self, tokens: Sequence[int], start: int, seq: int, outputs: Sequence[int] = ()) -> None:
        """Tokens at positions start, start+1, ... of sequence `seq`; logits are kept for the
        tokens whose index (in `tokens`) is in `outputs`, in that order of the batch."""
        n, end = len(tokens), self.size + len(tokens)
        if end > self.capacity:
            raise ValueError(f"batch overflow: {end} tokens > {self.capacity}")
        self._token[self.size : end] = tokens
        self._pos[self.size : end] = np.arange(start, start + n, dtype=np.int32)
        self._n_seq[self.size : end] = 1
        self._logits[self.size : end] = 0
        for i in range(self.size, end):
            self._seq[i][0] = seq
        for i in outputs:
            self._logits[self.size + i] = 1
            self.output_rows.append(self.size + i)
        self.outputs += len(outputs)
        self.size = end
        self.raw.n_tokens = end

    def close(self) -> None:
        if self.raw is not None:
            llama_cpp.llama_batch_free(self.raw)
            self.raw = None


class LlamaRuntime:
    """One GGUF model with one context of `n_seq_max` sequences over `n_ctx` shared KV cells
    (at most the model's training context)."""

    def __init__(
        self,
        path: Path,
        *,
        n_ctx: int,
        n_threads: int,
        n_batch: int,
        n_seq_max: int,
        verbose: bool = False,
    ) -> None:
        _init_backend(verbose)
        prepare_llama_cpp(path)
        self.path = path
        self._users = 0  # vocabulary calls in flight (close waits for them)
        self._users_cond = threading.Condition()
        self.closed = False
        model_params = llama_cpp.llama_model_default_params()
        self.model = llama_cpp.llama_model_load_from_file(str(path).encode(), model_params)
        if not self.model:
            raise ModelLoadError(f"llama.cpp could not load {path} (not a GGUF model it supports?)")
        self.ctx = None
        self.batch: TokenBatch | None = None
        try:
            self.vocab = llama_cpp.llama_model_get_vocab(self.model)
            self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(self.vocab))
            self.n_ctx_train = int(llama_cpp.llama_model_n_ctx_train(self.model))
            self.n_embd = int(llama_cpp.llama_model_n_embd_out(self.model))
            self.n_layer = int(llama_cpp.llama_model_n_layer(self.model))
            self._embeddings = False
            params = llama_cpp.llama_context_default_params()
            params.n_ctx = min(n_ctx, self.n_ctx_train) if self.n_ctx_train > 0 else n_ctx
            params.n_batch = n_batch
            params.n_ubatch = n_batch
            params.n_seq_max = n_seq_max
            params.n_threads = n_threads
            params.n_threads_batch = n_threads
            params.kv_unified = True
            params.no_perf = True
            params.embeddings = False  # switched on for the decodes that read hidden states
            params.pooling_type = llama_cpp.LLAMA_POOLING_TYPE_NONE  # one state per token
            self.ctx = llama_cpp.llama_init_from_model(self.model, params)
            if not self.ctx:
                raise ModelLoadError(f"llama.cpp could not create a context for {path}")
            self.n_ctx = int(llama_cpp.llama_n_ctx(self.ctx))
            self.n_seq_max = int(llama_cpp.llama_n_seq_max(self.ctx))
            self.memory = llama_cpp.llama_get_memory(self.ctx)
            self.batch = TokenBatch(n_batch)
        except BaseException:
            self.close()
            raise
        self._eog: dict[int, bool] = {}
        self._pieces: dict[int, bytes] = {}

    @contextlib.contextmanager
    def _open(self) -> Iterator[None]:
        """Guards a call into the model against `close` (which waits for the call to end)."""
        with self._users_cond:
            if self.closed:
                raise BackendError(f"llama.cpp model {self.path.name} is closed", tier="edge")
            self._users += 1
        try:
            yield
        finally:
            with self._users_cond:
                self._users -= 1
                self._users_cond.notify_all()

    # -- metadata and vocabulary (safe from any thread) --

    def meta(self, key: str) -> str | None:
        """A GGUF metadata value as text, None when absent."""
        with self._open():
            size = llama_cpp.llama_model_meta_val_str(self.model, key.encode(), None, 0)
            if size < 0:
                return None
            buffer = ctypes.create_string_buffer(size + 1)
            llama_cpp.llama_model_meta_val_str(self.model, key.encode(), buffer, size + 1)
        return buffer.value.decode("utf-8", errors="replace")

    def chat_template(self) -> str | None:
        with self._open():
            raw = llama_cpp.llama_model_chat_template(self.model, None)
        return raw.decode("utf-8", errors="replace") if raw else None

    def special_text(self, token: int) -> str:
        """A special token's text (e.g. "<|im_end|>"); "" for an absent token (-1)."""
        if token < 0 or token >= self.n_vocab:
            return ""
        return self.piece(token, special=True).decode("utf-8", errors="replace")

    @property
    def bos(self) -> int:
        return int(llama_cpp.llama_vocab_bos(self.vocab))

    @property
    def eos(self) -> int:
        return int(llama_cpp.llama_vocab_eos(self.vocab))

    def is_end(self, token: int) -> bool:
        """An end-of-generation token (end of turn, end of text, ...)."""
        known = self._eog.get(token)
        if known is None:
            with self._open():
                known = self._eog[token] = bool(llama_cpp.llama_vocab_is_eog(self.vocab, token))
        return known

    def tokenize(self, text: str, *, special: bool = True) -> list[int]:
        """Token ids of `text`, nothing added; special-token text parsed when `special`."""
        data = text.encode("utf-8")
        capacity = len(data) + 16
        with self._open():
            for _ in range(2):
                buffer = (llama_cpp.llama_token * capacity)()
                n = llama_cpp.llama_tokenize(
                    self.vocab, data, len(data), buffer, capacity, False, special
                )
                if n >= 0:
                    return list(buffer[:n])
                capacity = -n
        raise RuntimeError(f"llama.cpp could not tokenize {len(data)} bytes")

    def piece(self, token: int, *, special: bool = False) -> bytes:
        """The bytes a token stands for; special (control) tokens are b"" unless `special`."""
        if not special and (cached := self._pieces.get(token)) is not None:
            return cached
        buffer = ctypes.create_string_buffer(64)
        with self._open():
            n = llama_cpp.llama_token_to_piece(self.vocab, token, buffer, 64, 0, special)
            if n < 0:
                buffer = ctypes.create_string_buffer(-n)
                n = llama_cpp.llama_token_to_piece(self.vocab, token, buffer, -n, 0, special)
        out = buffer.raw[: max(n, 0)]
        if not special:
            self._pieces[token] = out
        return out

    def detokenize(self, tokens: Sequence[int]) -> str:
        """The text of a token sequence, special tokens left out."""
        if not tokens:
            return ""
        array = (llama_cpp.llama_token * len(tokens))(*tokens)
        capacity = 8 * len(tokens) + 64
        with self._open():
            for _ in range(2):
                buffer = ctypes.create_string_buffer(capacity)
                n = llama_cpp.llama_detokenize(
                    self.vocab, array, len(tokens), buffer, capacity, False, False
                )
                if n >= 0:
                    return buffer.raw[:n].decode("utf-8", errors="replace")
                capacity = -n
        raise RuntimeError("llama.cpp could not detokenize")

    # -- decoding (the scheduler thread only) --

    def decode(self) -> int:
        """Evaluate the batch; 0 on success, llama_decode's code otherwise."""
        assert self.batch is not None
        return int(llama_cpp.llama_decode(self.ctx, self.batch.raw))

    def logits(self, rows: int) -> NDArray[np.float32]:
        """The last decode's output logits, (rows, vocab), in batch order; valid until the next
        decode (a view, not a copy)."""
        pointer = llama_cpp.llama_get_logits(self.ctx)
        return np.ctypeslib.as_array(pointer, shape=(rows, self.n_vocab))

    def set_embeddings(self, on: bool) -> None:
        """Whether the next decodes also return hidden states (and output every token)."""
        if on != self._embeddings:
            llama_cpp.llama_set_embeddings(self.ctx, on)
            self._embeddings = on

    def embeddings(self, rows: int) -> NDArray[np.float32]:
        """The last decode's hidden states, (rows, n_embd), in batch order (a view, valid until
        the next decode); only after a decode with `set_embeddings(True)`."""
        pointer = llama_cpp.llama_get_embeddings(self.ctx)
        if not pointer:
            raise RuntimeError("llama.cpp returned no hidden states")
        return np.ctypeslib.as_array(pointer, shape=(rows, self.n_embd))

    def seq_cp(self, source: int, target: int) -> None:
        llama_cpp.llama_memory_seq_cp(self.memory, source, target, -1, -1)

    def seq_rm(self, seq: int) -> None:
        llama_cpp.llama_memory_seq_rm(self.memory, seq, -1, -1)

    def clear(self) -> None:
        llama_cpp.llama_memory_clear(self.memory, True)

    def close(self) -> None:
        """Free the batch, the context and the model once no call uses them (idempotent);
        later calls raise `BackendError`. Decoding must have stopped (the scheduler's job)."""
        with self._users_cond:
            self.closed = True
            while self._users:
                self._users_cond.wait()
        if self.batch is not None:
            self.batch.close()
            self.batch = None
        if self.ctx:
            llama_cpp.llama_free(self.ctx)
            self.ctx = None
        if self.model:
            llama_cpp.llama_model_free(self.model)
            self.model = None

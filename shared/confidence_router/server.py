"""A local OpenAI-compatible cloud server: llama.cpp's, through `llama-cpp-python[server]`.

Used by the demo and the tests. It binds 127.0.0.1 only, on a free port, and is stopped with its
context manager; if this process dies without stopping it (SIGTERM, SIGKILL), the server exits
within about a second on its own (`_orphan_guard`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO

from confidence_router.errors import ConfigurationError, ModelLoadError
from confidence_router.models.bundled import DEFAULT_CLOUD, resolve_model_path

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class LlamaCppServer:
    """`python -m llama_cpp.server` serving one GGUF model on 127.0.0.1.

    `model` is a bundled model name (default `qwen2.5-coder-1.5b-instruct`) or a GGUF path; the
    model is served under the alias `model_alias` (default: the bundled name or file stem). The
    context window `n_ctx` should be at least the edge model's, so nothing the edge accepts is
    too long for the cloud. `chat_format` defaults to the project's handler
    (`local_chat_handler`: the model's own template, real `tool_calls`); None or another name
    gives llama-cpp-python's.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] = DEFAULT_CLOUD,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        n_ctx: int = 8192,
        n_threads: int | None = None,
        chat_format: str | None = "confidence-router",
        model_alias: str | None = None,
        startup_timeout: float = 300.0,
    ) -> None:
        if host not in _LOOPBACK:
            raise ConfigurationError("host", f"the local server binds loopback only, got {host!r}")
        if n_ctx < 512:
            raise ConfigurationError("n_ctx", f"must be >= 512, got {n_ctx}")
        self.model = model
        self.host = host
        self.port = port
        self.n_ctx = n_ctx
        self.n_threads = n_threads or max(1, os.cpu_count() or 1)
        self.chat_format = chat_format
        self.model_alias = model_alias or (
            model if isinstance(model, str) and "/" not in model else Path(model).stem
        )
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None  # the server's output while it runs (see `stop`)

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL, e.g. `http://127.0.0.1:PORT/v1`."""
        if self.port is None:
            raise RuntimeError("the server has not been started")
        return f"http://{self.host}:{self.port}/v1"

    @property
    def log_path(self) -> Path | None:
        """The running server's log file (removed when it stops); None when not running."""
        return None if self._log is None else Path(self._log.name)

    def log_tail(self, lines: int = 30) -> str:
        path = self.log_path
        if path is None or not path.exists():
            return ""
        text = path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def start(self) -> LlamaCppServer:
        """Start the server and wait until `GET /v1/models` answers."""
        try:
            import llama_cpp.server  # noqa: F401
        except ImportError as exc:
            raise ModelLoadError(
                "the local server needs llama-cpp-python[server]; "
                "install it with: pip install 'confidence-router[local]'"
            ) from exc
        path = resolve_model_path(self.model)
        self.port = self.port or free_port(self.host)
        command = [
            sys.executable, str(Path(__file__).with_name("_orphan_guard.py")), str(os.getpid()),
            "confidence_router.local_server_main",
            "--model", str(path),
            "--model_alias", self.model_alias,
            "--host", self.host,
            "--port", str(self.port),
            "--n_threads", str(self.n_threads),
            "--n_ctx", str(self.n_ctx),
        ]  # fmt: skip
        if self.chat_format:
            command += ["--chat_format", self.chat_format]
        self._close_log()
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed and removed by stop()
            prefix="llama-server-", suffix=".log", delete=False
        )
        self._process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        url = f"{self.base_url}/models"
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise ModelLoadError(
                    f"llama.cpp server exited with code {self._process.returncode}:\n"
                    + self.log_tail()
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.25)
        raise ModelLoadError(
            f"llama.cpp server not ready after {self.startup_timeout:.0f} s:\n" + self.log_tail()
        )

    def stop(self) -> None:
        """Stop the server (terminate, then kill after 10 s) and remove its log file."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        self._process = None
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            Path(self._log.name).unlink(missing_ok=True)
            self._log = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> LlamaCppServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

"""A fault-injecting HTTP proxy on 127.0.0.1 in front of a real OpenAI-compatible server.

Each request the proxy receives gets the next fault of its schedule (cycled):

- ``ok``: forwarded to the real server, its answer returned unchanged (streams included);
- ``500``: HTTP 500 with an OpenAI-style error body;
- ``429``: HTTP 429 with ``Retry-After: <retry_after_s>``;
- ``slow``: nothing for ``slow_s`` seconds (past the client's timeout), then forwarded;
- ``drop``: the connection is closed without an answer;
- ``malformed``: HTTP 200 whose JSON body is cut off mid-object;
- ``401``: HTTP 401 whose message echoes the request's bearer token, as some servers do (for
  testing that keys never leak into records, logs or errors).

It exists to test what a real server cannot be made to do on demand; everything it forwards is
answered by the real server. Thread-safe; `counts` says how often each fault was served.
"""

from __future__ import annotations

import http.client
import itertools
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

from confidence_router.errors import ConfigurationError

FAULTS = ("ok", "500", "429", "slow", "drop", "malformed", "401")
_MALFORMED = b'{"id": "chatcmpl-injected", "choices": [{"index": 0, "mes'
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class FaultProxy:
    """`FaultProxy(upstream_base_url, schedule)`; use as a context manager, point the client at
    `base_url`."""

    def __init__(
        self,
        upstream: str,
        schedule: Sequence[str] = ("ok",),
        *,
        slow_s: float = 10.0,
        retry_after_s: int = 1,
        host: str = "127.0.0.1",
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ConfigurationError("upstream", f"must be an http:// URL, got {upstream!r}")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 80
        self.upstream_path = parts.path.rstrip("/")
        self.slow_s = slow_s
        self.retry_after_s = retry_after_s
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.set_schedule(schedule)
        self._server = ThreadingHTTPServer((host, 0), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.upstream_path}"

    def set_schedule(self, schedule: Sequence[str]) -> None:
        """Serve `schedule` (cycled) from the next request on."""
        unknown = sorted(set(schedule) - set(FAULTS))
        if not schedule or unknown:
            raise ConfigurationError(
                "schedule", f"must be a non-empty sequence of {FAULTS}, got unknown {unknown}"
            )
        with self._lock:
            self.schedule = tuple(schedule)
            self._faults: Iterator[str] = itertools.cycle(self.schedule)

    def next_fault(self) -> str:
        with self._lock:
            fault = next(self._faults)
            self.counts[fault] += 1
            return fault

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: the tests count outcomes, not log lines

            def do_GET(self) -> None:
                self._serve(b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._serve(self.rfile.read(length))

            def _serve(self, body: bytes) -> None:
                fault = proxy.next_fault()
                try:
                    if fault == "500":
                        self._reply(500, b'{"error": {"message": "injected fault", "code": 500}}')
                    elif fault == "429":
                        self._reply(
                            429,
                            b'{"error": {"message": "rate limited (injected)", "code": 429}}',
                            {"Retry-After": str(proxy.retry_after_s)},
                        )
                    elif fault == "401":
                        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                        message = f"Incorrect API key provided: {token}"
                        self._reply(401, json.dumps({"error": {"message": message}}).encode())
                    elif fault == "drop":
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                    elif fault == "malformed":
                        self._reply(200, _MALFORMED)
                    else:
                        if fault == "slow":
                            time.sleep(proxy.slow_s)
                        self._forward(body)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    pass  # the client gave up (timeout) before the answer: expected for "slow"

            def _reply(
                self, status: int, payload: bytes, headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def _forward(self, body: bytes) -> None:
                path = self.path
                conn = http.client.HTTPConnection(
                    proxy.upstream_host, proxy.upstream_port, timeout=600
                )
                try:
                    headers = {
                        k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS
                    }
                    conn.request(self.command, path, body=body or None, headers=headers)
                    upstream = conn.getresponse()
                    payload = upstream.read()
                    self.send_response(upstream.status)
                    for name, value in upstream.getheaders():
                        if name.lower() not in _HOP_HEADERS:
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                finally:
                    conn.close()

        return Handler

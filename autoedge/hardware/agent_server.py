"""The autoedge device agent: an HTTP server timing ONNX models in this machine's ONNX Runtime.

A search elsewhere posts an exported model (raw ONNX bytes, bearer token) and gets back the
latency measured here. Requests are checked before they cost anything (token, size, read
deadline, a self-contained valid model), results are cached by content, and measurements run
one at a time in a child process that is killed and replaced when one overruns --timeout-s.
Only bytes and JSON cross the wire and the pipe to the child; nothing is ever unpickled.
The model checks live in agent_checks.py, the measuring child in agent_worker.py.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import os
import platform
import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import onnxruntime as ort

from autoedge import __version__
from autoedge.errors import TargetError
from autoedge.hardware.agent_checks import Reject, check_model_bytes, first_line
from autoedge.hardware.agent_worker import MeasureWorker

MB = 1_000_000
RUNS = (3, 1000)  # accepted range of ?runs=
WARMUP = (0, 100)  # accepted range of ?warmup=
ROUTES = {"/v1/info": "GET", "/v1/measure": "POST"}
Log = Callable[[str], None]


def _stderr_line(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


@dataclass(frozen=True)
class AgentConfig:
    """How an agent listens, what it accepts, and how it measures."""

    token: str = field(repr=False)
    host: str = "127.0.0.1"
    port: int = 8765
    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    threads: int = 1
    max_mb: float = 64.0
    timeout_s: float = 120.0
    read_timeout_s: float = 30.0
    cache_size: int = 256
    max_pending: int = 8  # measure requests holding a body at once; more get 503

    def check(self) -> None:
        """Raise TargetError on settings the agent cannot run with."""
        if not self.token:
            raise TargetError("the agent needs a non-empty token")
        available = ort.get_available_providers()
        unknown = [p for p in self.providers if p not in available]
        if not self.providers or unknown:
            raise TargetError(
                f"execution provider(s) {', '.join(unknown) or '(none)'} not available in "
                f"this onnxruntime {ort.__version__}; choose from: {', '.join(available)}"
            )
        if self.threads < 1 or min(self.max_mb, self.timeout_s, self.read_timeout_s) <= 0:
            raise TargetError("need --threads >= 1 and positive --max-mb, --timeout-s, etc.")


class AgentServer(ThreadingHTTPServer):
    """The agent's HTTP server: holds the config, the result cache and the worker."""

    daemon_threads = True

    def __init__(self, config: AgentConfig, *, log: Log = _stderr_line):
        self.address_family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
        super().__init__((config.host, config.port), _Handler)
        self.config, self.log = config, log
        self.cache: OrderedDict[tuple, dict[str, Any]] = OrderedDict()  # LRU, under _measuring
        self.pending = threading.BoundedSemaphore(config.max_pending)
        self._measuring = threading.Lock()  # one at a time: concurrent timing corrupts numbers
        self.worker = MeasureWorker(providers=config.providers, threads=config.threads)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def info(self) -> dict[str, Any]:
        """What this agent runs and how it measures."""
        c = self.config
        return {
            "autoedge": __version__,
            "onnxruntime": ort.__version__,
            "providers_available": ort.get_available_providers(),
            "providers": list(c.providers),
            "platform": platform.platform(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "threads": c.threads,
            "max_mb": c.max_mb,
            "timeout_s": c.timeout_s,
        }

    def measure(self, body: bytes, *, runs: int, warmup: int) -> dict[str, Any]:
        """The cached result for these bytes and settings, else a fresh measurement."""
        c = self.config
        sha = hashlib.sha256(body).hexdigest()
        key = (sha, runs, warmup, c.providers, c.threads)
        with self._measuring:
            cached = key in self.cache
            if not cached:
                measured = self.worker.measure(
                    body, runs=runs, warmup=warmup, timeout_s=c.timeout_s
                )
                self.cache[key] = {**measured, "warmup": warmup, "sha256": sha}
                if len(self.cache) > c.cache_size:
                    self.cache.popitem(last=False)
            self.cache.move_to_end(key)
            result = self.cache[key]
        return {**result, "cached": cached, "onnxruntime": ort.__version__}

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection-level failure: one log line, no traceback."""
        e = sys.exc_info()[1]
        self.log(f"{client_address[0]} connection error: {type(e).__name__}: {e}")

    def server_close(self) -> None:
        super().server_close()
        if hasattr(self, "worker"):
            self.worker.close()


class _Handler(BaseHTTPRequestHandler):
    """One request: route, authorize, check, measure; always a JSON answer and one log line."""

    server: AgentServer
    server_version = f"autoedge-agent/{__version__}"

    def setup(self) -> None:
        self.timeout = self.server.config.read_timeout_s  # slow request lines and headers too
        self._t0 = time.perf_counter()
        super().setup()

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _handle(self) -> None:
        self._t0, self._unread = time.perf_counter(), self._declared_length()
        try:
            status, payload, headers = 200, self._route(), {}
        except Reject as e:
            status, payload, headers = e.status, {"error": e.message}, e.headers
        except Exception as e:  # a bug in the agent: say so, keep serving
            self.server.log(f"internal error: {type(e).__name__}: {e}")
            status, payload, headers = 500, {"error": f"internal error: {first_line(e)}"}, {}
        self._reply(status, payload, headers)
        if self._unread:
            self._drain()

    def _route(self) -> dict[str, Any]:
        path = urlsplit(self.path).path
        if path not in ROUTES:
            raise Reject(404, f"no endpoint {path}; use GET /v1/info or POST /v1/measure")
        if self.command != ROUTES[path]:
            method = ROUTES[path]
            raise Reject(405, f"{path} takes {method}, not {self.command}", {"Allow": method})
        self._authorize()
        if path == "/v1/info":
            return self.server.info()
        return self._measure()

    def _authorize(self) -> None:
        scheme, _, given = self.headers.get("Authorization", "").partition(" ")
        expected = self.server.config.token.encode()
        if not (
            scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected)
        ):
            raise Reject(
                401, "missing or wrong token: send `Authorization: Bearer <token>`",
                {"WWW-Authenticate": "Bearer"},
            )  # fmt: skip

    def _declared_length(self) -> int:
        try:
            return max(0, int(self.headers.get("Content-Length", "0")))
        except ValueError:
            return 0

    def _measure(self) -> dict[str, Any]:
        c = self.server.config
        raw = self.headers.get("Content-Length")
        if raw is None:
            raise Reject(411, "send the model with a Content-Length header (no chunked upload)")
        if not raw.strip().isdigit():
            raise Reject(400, f"bad Content-Length {raw!r}")
        length = self._unread = int(raw)
        if length > c.max_mb * MB:
            raise Reject(
                413, f"model is {length / MB:.1f} MB; this agent takes at most {c.max_mb:g} MB"
            )
        if length == 0:
            raise Reject(400, "empty body: send the .onnx file's bytes")
        if not self.server.pending.acquire(blocking=False):
            raise Reject(503, "agent busy: too many models waiting; retry later")
        try:
            body = self._read_body(length)
            check_model_bytes(body)
            query = parse_qs(urlsplit(self.path).query)
            runs = _int_param(query, "runs", 30, RUNS)
            warmup = _int_param(query, "warmup", 5, WARMUP)
            return self.server.measure(body, runs=runs, warmup=warmup)
        finally:
            self.server.pending.release()

    def _read_body(self, length: int) -> bytes:
        """The whole body within --read-timeout-s in total, or 408."""
        limit = self.server.config.read_timeout_s
        deadline, chunks, got = time.monotonic() + limit, [], 0
        self._unread = 0  # from here on a failure closes the connection without draining
        while got < length:
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise TimeoutError
                self.connection.settimeout(left)
                chunk = self.rfile.read1(min(length - got, 1 << 20))
            except TimeoutError:
                chunk = None
            if not chunk:
                raise Reject(
                    408, f"request body incomplete after {limit:g} s (the agent's "
                    f"--read-timeout-s): got {got} of {length} bytes",
                )  # fmt: skip
            chunks.append(chunk)
            got += len(chunk)
        self.connection.settimeout(limit)  # not the deadline's leftover for the answer
        return b"".join(chunks)

    def _reply(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
        body = (json.dumps(payload) + "\n").encode()
        self.close_connection = True
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:
            pass  # the client left; the log line still records what it would have got
        ms = (time.perf_counter() - self._t0) * 1e3
        where = urlsplit(getattr(self, "path", "") or "-").path
        self.server.log(
            f"{self.client_address[0]} {self.command or '-'} {where} {status} {ms:.1f} ms"
        )

    def _drain(self) -> None:
        """Swallow (briefly) a body we refused before closing, so the client reads our answer
        instead of a connection reset."""
        try:
            self.connection.shutdown(socket.SHUT_WR)
            deadline, left = time.monotonic() + 2.0, min(self._unread, 4 * MB)
            while left > 0 and time.monotonic() < deadline:
                self.connection.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = self.rfile.read1(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (bad request line, unknown method) in our JSON shape."""
        self._reply(code, {"error": message or self.responses.get(code, ("error",))[0]}, {})

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silenced: `_reply` logs every request once, with its duration."""

    def log_message(self, format: str, *args: Any) -> None:
        self.server.log(f"{self.client_address[0]} {format % args}")


def _int_param(
    query: dict[str, list[str]], name: str, default: int, bounds: tuple[int, int]
) -> int:
    values = query.get(name)
    low, high = bounds
    if not values:
        return default
    text = values[-1].strip()
    if not text.lstrip("-").isdigit() or not low <= int(text) <= high:
        raise Reject(400, f"{name}={values[-1]!r} is out of range; use {low}..{high}")
    return int(text)


def make_server(config: AgentConfig, *, log: Log = _stderr_line) -> AgentServer:
    """A bound agent server (not yet serving); TargetError on a bad config or busy port."""
    config.check()
    try:
        return AgentServer(config, log=log)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise TargetError(
                f"port {config.port} on {config.host} is already in use; stop what listens "
                "there or pick another --port"
            ) from None
        raise TargetError(
            f"cannot listen on {config.host}:{config.port}: {e.strerror or e}"
        ) from None


def serve(config: AgentConfig, *, log: Log = _stderr_line) -> None:
    """Serve until KeyboardInterrupt (Ctrl-C), then stop the worker and close the socket."""
    server = make_server(config, log=log)
    log(
        f"autoedge agent listening on http://{config.host}:{server.port} (onnxruntime "
        f"{ort.__version__}, {', '.join(config.providers)}, {config.threads} thread(s)); "
        "Ctrl-C stops it"
    )
    if config.host not in ("127.0.0.1", "localhost", "::1"):
        log("note: plain HTTP: anyone on the path can read the token; use a trusted network")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        log("autoedge agent stopped")

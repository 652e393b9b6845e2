"""The device agent's measuring child: one spawned process that times models, and its keeper.

Jobs go down a pipe as JSON plus the model's raw bytes and results come back as JSON; nothing is
ever unpickled. `MeasureWorker` kills and replaces the child when a job overruns its timeout.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
import signal
import tempfile
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from autoedge.errors import ExportError
from autoedge.hardware.agent_checks import Reject, first_line
from autoedge.hardware.host_latency import time_session
from autoedge.hardware.onnx_runtime import open_session


def _worker_main(conn: Connection, workdir: str, providers: list[str], threads: int) -> None:
    """The child: answer JSON jobs (+ model bytes) with JSON results until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group; the server stops us
    path = Path(workdir) / "model.onnx"
    conn.send_bytes(b'{"ready": true}')
    try:
        while True:
            job = json.loads(conn.recv_bytes())
            path.write_bytes(conn.recv_bytes())
            conn.send_bytes(json.dumps(_time_model(path, job, providers, threads)).encode())
    except (EOFError, OSError):  # the server closed the pipe, or is gone
        return


def _time_model(
    path: Path, job: dict[str, int], providers: list[str], threads: int
) -> dict[str, Any]:
    try:
        session = open_session(path, threads=threads, providers=providers)
    except ExportError as e:
        message = first_line(e.__cause__ or e).replace(str(path), "model.onnx")
        return {"ok": False, "error": f"ONNX Runtime cannot create a session: {message}"}
    try:
        m = time_session(session, threads=threads, warmup=job["warmup"], runs=job["runs"])
    except Exception as e:  # the model loads but does not run on a float32 batch-1 input
        return {"ok": False, "error": f"ONNX Runtime cannot run the model: {first_line(e)}"}
    result = {k: v for k, v in m.to_json().items() if k not in ("source", "detail")}
    return {"ok": True, "result": {**result, "providers": session.get_providers()}}


class MeasureWorker:
    """One child process that times models; killed and replaced when a job overruns.

    Not thread-safe: the server calls `measure` one job at a time.
    """

    def __init__(self, *, providers: tuple[str, ...], threads: int, start_timeout_s: float = 120):
        self._ctx = multiprocessing.get_context("spawn")  # no fork of a threaded server
        self._args = (list(providers), threads)
        self._start_timeout_s = start_timeout_s
        self._workdir = tempfile.mkdtemp(prefix="autoedge-agent-")
        self._proc: multiprocessing.process.BaseProcess | None = None
        self._start()

    def _start(self) -> None:
        parent, child = self._ctx.Pipe()
        self._proc = self._ctx.Process(
            target=_worker_main,
            args=(child, self._workdir, *self._args),
            name="autoedge-agent-worker",
            daemon=True,
        )
        self._proc.start()
        child.close()
        self._conn, self._ready = parent, False

    def _stop(self, *, kill: bool = False) -> None:
        """Close the pipe (an idle child exits on EOF); kill it if asked or if it lingers."""
        if self._proc is not None:
            if kill:
                self._proc.kill()
            self._conn.close()
            self._proc.join(0.5)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(5)
            self._proc = None

    def _replace(self) -> None:
        self._stop(kill=True)  # mid-measurement: do not wait for it to finish
        self._start()

    def measure(self, model: bytes, *, runs: int, warmup: int, timeout_s: float) -> dict:
        """Time `model` in the child; Reject(400/500/503/504) when that fails."""
        if self._proc is None or not self._proc.is_alive():
            self._replace()
        try:
            if not self._ready:
                if not self._conn.poll(self._start_timeout_s):
                    self._replace()
                    raise Reject(503, "the measurement worker did not start; try again")
                self._conn.recv_bytes()
                self._ready = True
        except (EOFError, OSError):
            raise self._died(503, "could not start") from None
        try:
            self._conn.send_bytes(json.dumps({"runs": runs, "warmup": warmup}).encode())
            self._conn.send_bytes(model)
            if not self._conn.poll(timeout_s):
                self._replace()
                raise Reject(
                    504,
                    f"measurement took longer than {timeout_s:g} s (the agent's --timeout-s); "
                    "ask for fewer runs or send a smaller model",
                )
            answer = json.loads(self._conn.recv_bytes())
        except (EOFError, OSError):
            raise self._died(500, "died running this model") from None
        if not answer["ok"]:
            raise Reject(400, answer["error"])
        return answer["result"]

    def _died(self, status: int, what: str) -> Reject:
        """Replace a child that exited; the error says how it ended."""
        code = None
        if self._proc is not None:
            self._proc.join(1)
            code = self._proc.exitcode
        self._replace()
        return Reject(status, f"the measurement worker {what} (exit code {code})")

    def close(self) -> None:
        """Stop the child and remove its scratch folder."""
        self._stop()
        shutil.rmtree(self._workdir, ignore_errors=True)

"""The device agent for real: a server on 127.0.0.1, real HTTP, real ONNX Runtime timing."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import onnx
import pytest
from autoedge_cli import autoedge, serve_agent
from onnx import TensorProto, helper
from onnx.external_data_helper import set_external_data
from onnx_models import conv_model

from autoedge.errors import TargetError
from autoedge.hardware.agent_client import AgentTarget
from autoedge.hardware.agent_server import AgentConfig, make_server

TOKEN = "s3cret-test-token"
AUTH = f"Authorization: Bearer {TOKEN}"


def external_data_model(*, in_attribute: bool) -> bytes:
    """The tiny model with a tensor whose data "lives" in a file named by the request."""
    model = onnx.load_from_string(conv_model())
    tensor = model.graph.initializer[0]
    if in_attribute:  # the weight as a Constant node's value instead of an initializer
        model.graph.initializer.pop()
        const = helper.make_node("Constant", [], ["w"], value=tensor)
        model.graph.node.insert(0, const)
        tensor = model.graph.node[0].attribute[0].t
    set_external_data(tensor, location="/etc/passwd")
    tensor.data_location = TensorProto.EXTERNAL
    tensor.ClearField("raw_data")
    return model.SerializeToString()


@dataclass
class Agent:
    port: int
    lines: list[str]


@pytest.fixture(scope="module")
def agent() -> Iterator[Agent]:
    lines: list[str] = []
    config = AgentConfig(token=TOKEN, port=0, max_mb=1, timeout_s=2, read_timeout_s=1)
    server = make_server(config, log=lines.append)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Agent(server.port, lines)
    server.shutdown()
    server.server_close()


def raw(port: int, head: list[str], body: bytes = b"", *, stall: bool = False):
    """Send a hand-written request; return (status, JSON body, seconds until the answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        start = time.monotonic()
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        data = b""
        while chunk := sock.recv(65536):  # the agent closes after each answer
            data += chunk
        elapsed = time.monotonic() - start
    if stall:  # the socket stayed open with the body unfinished until the agent gave up
        assert data, "no answer to a stalled upload"
    status = int(data.split(b" ", 2)[1])
    return status, json.loads(data.split(b"\r\n\r\n", 1)[1]), elapsed


def post(port: int, body: bytes, query: str = "", *, auth: str | None = AUTH):
    head = [f"POST /v1/measure{query} HTTP/1.1", "Host: agent", f"Content-Length: {len(body)}"]
    return raw(port, [*head, auth] if auth else head, body)


def test_measure_through_the_target_then_cached(agent: Agent, tmp_path: Path) -> None:
    model = tmp_path / "tiny.onnx"
    model.write_bytes(conv_model())
    target = AgentTarget("127.0.0.1", agent.port, TOKEN)
    m = target.latency(model, runs=5)
    assert m.source == "measured" and m.runs == 5 and m.threads == 1
    assert 0 < m.min_ms <= m.median_ms <= m.p90_ms
    assert m.detail.startswith(f"agent 127.0.0.1:{agent.port}, onnxruntime 1.")
    assert m.detail.endswith("CPUExecutionProvider") and target.name.startswith("agent:")
    assert target.latency(model, runs=5, precision="int8").median_ms == m.median_ms  # cached
    with pytest.raises(TargetError, match="not fp16"):
        target.latency(model, runs=5, precision="fp16")
    with pytest.raises(TargetError, match=r"answered 400: runs='2' is out of range; use 3\.\.1000"):
        target.latency(model, runs=2)
    info = target.info()
    assert info["providers"] == ["CPUExecutionProvider"] and info["threads"] == 1
    assert {"autoedge", "onnxruntime", "providers_available", "machine"} <= set(info)

    body = model.read_bytes()
    first = post(agent.port, body, "?runs=7&warmup=0")
    again = post(agent.port, body, "?runs=7&warmup=0")
    assert first[0] == again[0] == 200
    assert first[1]["cached"] is False and again[1]["cached"] is True
    assert again[1]["median_ms"] == first[1]["median_ms"] > 0
    assert first[1]["sha256"] == hashlib.sha256(body).hexdigest()


def test_token_is_checked_before_the_body(agent: Agent) -> None:
    # 100 kB announced, none sent: a server waiting for the body would answer 408 after 1 s
    head = ["POST /v1/measure HTTP/1.1", "Host: agent", "Content-Length: 100000"]
    for auth in ([], ["Authorization: Bearer wrong"], [f"Authorization: Basic {TOKEN}"]):
        status, answer, _ = raw(agent.port, head + auth)
        assert status == 401 and "token" in answer["error"]
    assert raw(agent.port, ["GET /v1/info HTTP/1.1", "Host: agent"])[0] == 401
    with pytest.raises(TargetError, match="rejected the token"):
        AgentTarget("127.0.0.1", agent.port, "wrong").info()


def test_length_required_and_size_limit(agent: Agent) -> None:
    status, answer, _ = raw(agent.port, ["POST /v1/measure HTTP/1.1", "Host: a", AUTH])
    assert status == 411 and "Content-Length" in answer["error"]
    head = ["POST /v1/measure HTTP/1.1", "Host: a", AUTH, "Content-Length: 2000000"]
    status, answer, _ = raw(agent.port, head)  # refused from the header: nothing is sent
    assert status == 413 and "at most 1 MB" in answer["error"]


def test_garbage_external_data_and_unrunnable_models_are_400(agent: Agent) -> None:
    status, answer, _ = post(agent.port, b"this is not a protobuf \xff\xfe" * 10)
    assert status == 400 and "ONNX model" in answer["error"]
    for in_attribute in (False, True):
        status, answer, _ = post(agent.port, external_data_model(in_attribute=in_attribute))
        assert status == 400 and "self-contained" in answer["error"]
    status, answer, _ = post(agent.port, conv_model(custom_op=True))
    assert status == 400 and "cannot create a session" in answer["error"]
    assert "\n" not in answer["error"]


@pytest.mark.parametrize("query", ["?runs=2", "?runs=1001", "?warmup=101", "?runs=ten"])
def test_runs_and_warmup_out_of_range(agent: Agent, query: str) -> None:
    status, answer, _ = post(agent.port, conv_model(), query)
    assert status == 400 and "out of range" in answer["error"]


def test_routes_and_methods(agent: Agent) -> None:
    assert raw(agent.port, ["GET /v2/nothing HTTP/1.1", "Host: a", AUTH])[0] == 404
    status, answer, _ = raw(agent.port, ["DELETE /v1/info HTTP/1.1", "Host: a", AUTH])
    assert status == 405 and "takes GET" in answer["error"]
    assert raw(agent.port, ["GET /v1/measure HTTP/1.1", "Host: a", AUTH])[0] == 405


def test_a_stalled_upload_gets_408(agent: Agent) -> None:
    body = conv_model()
    head = ["POST /v1/measure HTTP/1.1", "Host: a", AUTH, f"Content-Length: {len(body)}"]
    status, answer, elapsed = raw(agent.port, head, body[: len(body) // 2], stall=True)
    assert status == 408 and f"got {len(body) // 2} of {len(body)}" in answer["error"]
    assert 0.9 <= elapsed < 10


def test_overrun_is_killed_with_504_and_the_agent_recovers(agent: Agent) -> None:
    slow = conv_model(64, 64, 256)  # ~5 GFLOP a run: 1000 runs take minutes, not 2 s
    status, answer, elapsed = post(agent.port, slow, "?runs=1000&warmup=0")
    assert status == 504 and "--timeout-s" in answer["error"]
    assert elapsed < 15
    status, answer, _ = post(agent.port, conv_model(), "?runs=9")  # a fresh child measures it
    assert status == 200 and answer["cached"] is False and answer["median_ms"] > 0


def test_one_log_line_per_request_and_still_healthy(agent: Agent) -> None:
    status, answer, _ = post(agent.port, conv_model(), "?runs=11")
    assert status == 200 and answer["runs"] == 11
    assert any(re.fullmatch(r"127\.0\.0\.1 POST /v1/measure 401 [\d.]+ ms", x) for x in agent.lines)
    assert any(" POST /v1/measure 504 " in x for x in agent.lines)
    assert not any("Traceback" in x or "\n" in x for x in agent.lines)


def test_cli_serve_measure_busy_port_and_stop(tmp_path: Path, monkeypatch) -> None:
    token_file, log = tmp_path / "token", tmp_path / "agent.log"
    token_file.write_text(f"  {TOKEN}\n")
    proc, port = serve_agent(token_file, log)
    try:
        monkeypatch.delenv("AUTOEDGE_AGENT_TOKEN", raising=False)
        monkeypatch.setenv("AUTOEDGE_AGENT_TOKEN_FILE", str(token_file))
        target = AgentTarget.from_spec(f"agent:127.0.0.1:{port}")
        (tmp_path / "m.onnx").write_bytes(conv_model())
        assert target.latency(tmp_path / "m.onnx", runs=3).median_ms > 0

        busy = autoedge("agent", "serve", "--port", str(port), "--token-file", str(token_file))
        assert busy.returncode == 2 and "already in use" in busy.stderr
        assert len(busy.stderr.strip().splitlines()) == 1
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
    text = log.read_text()
    assert code == 0 and "agent stopped" in text and "Traceback" not in text
    assert " POST /v1/measure 200 " in text


def test_cli_missing_token_file(tmp_path: Path) -> None:
    res = autoedge("agent", "serve", "--port", "0", "--token-file", str(tmp_path / "none"))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines() == [
        f"autoedge: error: cannot read the agent token file {tmp_path / 'none'}: "
        "No such file or directory"
    ]


def test_client_to_a_closed_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # free once closed: nothing listens there
    with pytest.raises(TargetError, match=f"no autoedge agent answers at 127.0.0.1:{port}"):
        AgentTarget("127.0.0.1", port, TOKEN).info()


def test_spec_parsing_and_token_from_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("AUTOEDGE_AGENT_TOKEN_FILE", raising=False)
    monkeypatch.setenv("AUTOEDGE_AGENT_TOKEN", TOKEN)
    target = AgentTarget.from_spec("agent:10.0.0.7:8765")
    assert (target.host, target.port, target.name) == ("10.0.0.7", 8765, "agent:10.0.0.7:8765")
    assert TOKEN not in repr(target) and target.precisions == ("fp32", "int8")
    for bad in ("agent:10.0.0.7", "agent::80", "host:10.0.0.7:80", "agent:h:port", "agent:h:0"):
        with pytest.raises(TargetError, match="agent"):
            AgentTarget.from_spec(bad)
    monkeypatch.delenv("AUTOEDGE_AGENT_TOKEN")
    with pytest.raises(TargetError, match="AUTOEDGE_AGENT_TOKEN_FILE"):
        AgentTarget.from_spec("agent:10.0.0.7:8765")

"""The device agent under a burst: a real `autoedge agent serve` process on 127.0.0.1, 8 client
threads, 200 measure requests over 4 models mixed with hostile ones; nothing lost, repeats
cached, memory flat, a good request still answered at the end."""

from __future__ import annotations

import http.client
import json
import re
import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from autoedge_cli import serve_agent
from onnx_models import conv_model

TOKEN = "load-test-token"
CLIENTS, REQUESTS = 8, 200


def rss_kb(pid: int) -> int:
    """Resident memory of `pid` and its children (the agent's measuring worker)."""
    total = 0
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for p in [pid, *map(int, children)]:
        status = Path(f"/proc/{p}/status").read_text()
        total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
    return total


def request(port: int, body: bytes | None, *, token: str | None = TOKEN, length: int | None = None):
    """(status, JSON answer) for POST /v1/measure?runs=3 (GET /v1/info when body is None)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        if body is None:
            conn.request("GET", "/v1/info", headers=headers)
        else:
            headers["Content-Length"] = str(len(body) if length is None else length)
            conn.putrequest("POST", "/v1/measure?runs=3&warmup=1")
            for k, v in headers.items():
                conn.putheader(k, v)
            conn.endheaders(body)
        answer = conn.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        conn.close()


@pytest.fixture
def agent_process(tmp_path):
    token_file, log = tmp_path / "token", tmp_path / "agent.log"
    token_file.write_text(TOKEN)
    proc, port = serve_agent(token_file, log, "--max-mb", "1", "--read-timeout-s", "2")
    try:
        yield proc, port, log
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)


def test_a_burst_of_200_requests_from_8_clients(agent_process, report):
    proc, port, log = agent_process
    models = [conv_model(cout=c, hw=h) for c, h in ((4, 16), (8, 16), (4, 24), (8, 24))]
    hostile = {
        "no token": lambda: request(port, models[0], token=None),
        "wrong token": lambda: request(port, models[0], token="guess"),
        "oversized (2 MB, limit 1 MB)": lambda: request(port, b"\x00" * 2_000_000),
        "garbage bytes": lambda: request(port, b"not onnx at all" * 50),
        "truncated body (declares 2x its bytes)": lambda: request(
            port, models[1], length=2 * len(models[1])
        ),
    }
    expected = {
        "no token": 401,
        "wrong token": 401,
        "oversized (2 MB, limit 1 MB)": 413,
        "garbage bytes": 400,
        "truncated body (declares 2x its bytes)": 408,
    }
    for i in range(2 * len(models)):  # warm-up: every model measured once, then cached
        assert request(port, models[i % len(models)])[0] == 200
    before = rss_kb(proc.pid)

    def good(i: int):
        return request(port, models[i % len(models)])

    start = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        burst, attacks, queued = [], {}, list(hostile.items())
        for i in range(REQUESTS):
            burst.append(pool.submit(good, i))
            if i % 40 == 20 and queued:  # spread through the burst
                name, fn = queued.pop(0)
                attacks[name] = pool.submit(fn)
        answers = [f.result() for f in burst]
        refused = {name: f.result()[0] for name, f in attacks.items()}
    wall = time.monotonic() - start
    after = rss_kb(proc.pid)

    statuses = Counter(status for status, _ in answers)
    assert statuses == {200: REQUESTS}, statuses
    assert all(body["cached"] for _, body in answers)  # repeats never measured again
    by_model = {body["sha256"]: body["median_ms"] for _, body in answers}
    assert len(by_model) == len(models)
    assert refused == expected
    assert after - before < 20_000, (before, after)  # kB: flat, not growing per request
    status, info = request(port, None)
    assert status == 200 and info["max_mb"] == 1
    assert proc.poll() is None and "Traceback" not in log.read_text()
    lines = log.read_text().count(" POST /v1/measure 200 ")
    assert lines == REQUESTS + 2 * len(models)  # one log line per answered request

    report(
        "load",
        f"{REQUESTS} measure requests from {CLIENTS} concurrent clients on loopback, "
        f"{len(models)} models repeated, with the 5 hostile requests mixed in",
        f"{REQUESTS}/{REQUESTS} answered 200 in {wall:.1f} s, all from the cache; RSS "
        f"{before / 1024:.0f} -> {after / 1024:.0f} MB; agent still answers",
    )
    for name, code in refused.items():
        report("hostile requests", f"agent: {name}, during the burst", f"refused with {code}")

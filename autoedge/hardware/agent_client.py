"""A remote device as a latency target: the client side of the autoedge device agent.

`autoedge agent serve` runs on the device; `AgentTarget` posts an ONNX file to it and gets
back the latency ONNX Runtime measured there. Only bytes and JSON cross the wire.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoedge.errors import TargetError
from autoedge.hardware.host_latency import LatencyMeasurement

TOKEN_ENV = "AUTOEDGE_AGENT_TOKEN"
TOKEN_FILE_ENV = "AUTOEDGE_AGENT_TOKEN_FILE"
SPEC_FORM = "agent:HOST:PORT (e.g. agent:192.168.1.20:8765)"


def read_token_file(path: str | Path) -> str:
    """The token stored in `path` (surrounding whitespace stripped); TargetError if unusable."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__
        raise TargetError(f"cannot read the agent token file {path}: {reason}") from e
    if not token:
        raise TargetError(f"the agent token file {path} is empty; write a secret token in it")
    return token


@dataclass(frozen=True)
class AgentTarget:
    """Latency measured by an autoedge agent at host:port, in its ONNX Runtime.

    The agent runs the graph it is sent, so "fp32" and "int8" (QDQ) exports both run as they
    are; the token never shows in the repr.
    """

    host: str
    port: int
    token: str = field(repr=False)
    timeout_s: float = 300.0
    warmup: int = 5

    name: str = field(init=False, repr=False)
    precisions: tuple[str, ...] = field(default=("fp32", "int8"), init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", f"agent:{self.host}:{self.port}")

    @classmethod
    def from_spec(cls, spec: str, *, timeout_s: float = 300.0) -> AgentTarget:
        """Parse "agent:HOST:PORT"; the token comes from $AUTOEDGE_AGENT_TOKEN or the file
        named by $AUTOEDGE_AGENT_TOKEN_FILE."""
        kind, _, rest = spec.partition(":")
        host, _, port_text = rest.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")  # [::1] for IPv6
        if kind != "agent" or not host or not port_text.isdigit():
            raise TargetError(f"bad agent target {spec!r}; expected {SPEC_FORM}")
        port = int(port_text)
        if not 1 <= port <= 65535:
            raise TargetError(f"bad agent port {port} in {spec!r}; expected 1..65535")
        token = os.environ.get(TOKEN_ENV, "").strip()
        if not token:
            token_file = os.environ.get(TOKEN_FILE_ENV, "").strip()
            if not token_file:
                raise TargetError(
                    f"target {spec} needs the agent's token: set {TOKEN_ENV} to it, or "
                    f"{TOKEN_FILE_ENV} to a file holding it"
                )
            token = read_token_file(token_file)
        return cls(host=host, port=port, token=token, timeout_s=timeout_s)

    def info(self) -> dict[str, Any]:
        """What the agent runs: versions, providers, platform, threads."""
        return self._request("GET", "/v1/info")

    def latency(
        self, onnx_path: Path, *, runs: int, precision: str | None = None
    ) -> LatencyMeasurement:
        """Send the ONNX file to the agent and return the latency it measured there."""
        if precision is not None and precision not in self.precisions:
            raise TargetError(
                f"{self.name} runs {', '.join(self.precisions)} (ONNX Runtime), not {precision}"
            )
        try:
            body = Path(onnx_path).read_bytes()
        except OSError as e:
            raise TargetError(f"cannot read ONNX file {onnx_path}: {e.strerror or e}") from e
        query = urllib.parse.urlencode({"runs": runs, "warmup": self.warmup})
        res = self._request("POST", f"/v1/measure?{query}", body)
        try:
            providers = ", ".join(res["providers"])
            return LatencyMeasurement(
                median_ms=float(res["median_ms"]),
                p90_ms=float(res["p90_ms"]),
                min_ms=float(res["min_ms"]),
                spread=float(res["spread"]),
                runs=int(res["runs"]),
                threads=int(res["threads"]),
                source="measured",
                detail=f"agent {self._where}, onnxruntime {res['onnxruntime']}, {providers}",
            )
        except (KeyError, TypeError, ValueError) as e:
            raise TargetError(f"agent {self._where} sent an incomplete answer ({e!r})") from e

    @property
    def _where(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def _request(self, method: str, path: str, body: bytes | None = None) -> dict[str, Any]:
        """One authenticated request; every failure becomes a one-line TargetError."""
        req = urllib.request.Request(
            f"http://{self._where}{path}",
            data=body,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/octet-stream",
            },
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no env proxies
        try:
            with opener.open(req, timeout=self.timeout_s) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raise self._http_error(e) from None
        except urllib.error.URLError as e:
            raise self._connection_error(e.reason) from None
        except (OSError, TimeoutError) as e:  # reset or timeout while sending / reading
            raise self._connection_error(e) from None
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            data = None
        if not isinstance(data, dict):
            raise TargetError(f"{self._where} answered, but not as an autoedge agent (no JSON)")
        return data

    def _http_error(self, e: urllib.error.HTTPError) -> TargetError:
        try:
            message = str(json.loads(e.read())["error"])
        except Exception:  # not our agent's JSON: the status line says enough
            message = e.reason or "no message"
        if e.code == 401:
            return TargetError(
                f"agent {self._where} rejected the token (401): set {TOKEN_ENV} to the token "
                "in the agent's --token-file"
            )
        return TargetError(f"agent {self._where} answered {e.code}: {message}")

    def _connection_error(self, reason: object) -> TargetError:
        if isinstance(reason, ConnectionRefusedError):
            return TargetError(
                f"no autoedge agent answers at {self._where}; start one with "
                f"`autoedge agent serve --port {self.port} --token-file F`"
            )
        if isinstance(reason, TimeoutError):
            return TargetError(f"agent {self._where} did not answer within {self.timeout_s:g} s")
        if isinstance(reason, ConnectionResetError | BrokenPipeError):
            return TargetError(
                f"agent {self._where} closed the connection (a model over its --max-mb?)"
            )
        return TargetError(f"cannot reach agent {self._where}: {reason}")

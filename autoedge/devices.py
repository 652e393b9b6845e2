"""Where training runs: `--device auto|cpu|cuda|cuda:N`, checked and spread over workers.

Pure logic, no torch: the caller says how many GPUs it sees (`evaluate.devices.gpu_count()`
on this machine; Ray's assignment inside a Ray trial). Only training, fine-tuning and
batch-norm recalibration use the device; latency is always measured or predicted on the
target, never on the training GPU.
"""

from __future__ import annotations

import re

from autoedge.errors import DeviceError

#: What `--device` accepts, for help texts and errors.
DEVICE_HELP = "auto (a GPU when torch sees one), cpu, cuda (every GPU), or cuda:N (that one)"
_SPEC = re.compile(r"^(auto|cpu|cuda)(?::(\d+))?$")


def parse_device(spec: object) -> str:
    """`spec` normalised ("CUDA:0" -> "cuda:0"); DeviceError when it is none of the forms."""
    text = spec.strip().lower() if isinstance(spec, str) else ""
    found = _SPEC.match(text)
    if found is None or (found.group(2) is not None and found.group(1) != "cuda"):
        raise DeviceError(f"--device must be {DEVICE_HELP}; got {spec!r}")
    return text


def wants_gpu(spec: str) -> bool:
    """Whether `spec` asks for a GPU outright (cuda or cuda:N; auto does not insist)."""
    return parse_device(spec).startswith("cuda")


def resolve_device(spec: str, gpus: int) -> str:
    """The device `spec` means on a machine where torch sees `gpus` GPUs: "cpu", "cuda"
    (every GPU, spread by `worker_devices`) or "cuda:N". DeviceError, in one line, when
    `spec` asks for a GPU that is not there."""
    name = parse_device(spec)
    if name == "auto":
        return "cuda" if gpus > 0 else "cpu"
    if name == "cpu":
        return name
    if gpus < 1:
        raise DeviceError(
            f"--device {name}: torch sees no CUDA GPU on this machine "
            "(torch.cuda.device_count() is 0); use --device cpu or auto"
        )
    index = int(name.partition(":")[2] or 0)
    if index >= gpus:
        raise DeviceError(f"--device {name}: torch sees {gpus} GPU(s) here, numbered 0-{gpus - 1}")
    return name


def worker_devices(spec: str, workers: int, gpus: int) -> list[str]:
    """The device of each of `workers` workers: with every GPU in use ("auto" with GPUs, or
    "cuda"), worker i trains on cuda:(i mod gpus), so the workers share the GPUs evenly;
    "cuda:N" puts them all on GPU N; "cpu" (or "auto" without a GPU) keeps them on the CPU."""
    if workers < 1:
        raise DeviceError(f"need at least one worker, got {workers}")
    name = resolve_device(spec, gpus)
    if name == "cuda":
        return [f"cuda:{i % gpus}" for i in range(workers)]
    return [name] * workers

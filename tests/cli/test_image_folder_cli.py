"""A folder of the user's own photos (issue 27): searched at its own resolution, a corrupt
JPEG skipped and named, `--image-size` obeyed; real subprocesses, real evaluate()."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from autoedge_cli import autoedge
from PIL import Image

CHEAP = ["--epochs", "1", "--subset", "60", "--teacher", "none", "--rungs", "1", "--seed", "0"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Three classes of 96x96 RGB JPEGs (a colour per class, noise on top) and one corrupt."""
    root = tmp_path_factory.mktemp("photos") / "imgs"
    rng = np.random.default_rng(0)
    for c, colour in enumerate(((200, 40, 40), (40, 200, 40), (40, 40, 200))):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(14):
            pixels = np.clip(rng.normal(colour, 40, (96, 96, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / f"class{c}" / f"{i}.jpg", quality=90)
    (root / "class1" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a whole jpeg")
    return root


def _search(photos: Path, out: Path, *extra: str) -> tuple[str, pd.DataFrame, dict]:
    res = autoedge(
        "search",
        "--space",
        "tiny",
        "--data",
        str(photos),
        "--budget",
        "2",
        *CHEAP,
        *extra,
        "--out",
        str(out),
    )
    assert res.returncode == 0, res.stderr[-3000:]
    trials = pd.read_csv(out / "trials.csv")
    return res.stderr, trials, json.loads((out / "run.json").read_text())["config"]


def test_a_photo_folder_is_searched_at_its_own_resolution(photos, tmp_path):
    log, trials, run = _search(photos, tmp_path / "native")
    assert "96x96x3" in log
    assert "skipped 1 unreadable file" in log and "broken.jpg" in log
    assert "resolutions drawn for this data: 48x48" in log  # tiny: half the data's size
    assert set(trials["resolution"]) == {48} and (trials["state"] == "ok").all()
    assert run["image_size"] is None  # native; a resume and the export load it the same way


def test_image_size_chooses_the_stored_size(photos, tmp_path):
    log, trials, run = _search(photos, tmp_path / "at64", "--image-size", "64")
    assert "64x64x3" in log and set(trials["resolution"]) == {32}
    assert run["image_size"] == 64


def test_image_size_on_a_builtin_is_refused_in_one_line(tmp_path):
    res = autoedge("search", "--data", "digits", "--image-size", "64", "--out", str(tmp_path / "x"))
    assert res.returncode == 2 and "--image-size applies to image folders" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "x").exists()


REPRODUCE = r"""
import json, sys
from pathlib import Path
import numpy as np, onnxruntime as ort
from PIL import Image
folder, data = Path(sys.argv[1]), Path(sys.argv[2])
card = json.loads((folder / "model_card.json").read_text())
spec, size = card["input"], card["dataset"]["image_size"]
classes = sorted(p.name for p in (data / "test").iterdir())
sess = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
right = total = 0
for label, name in enumerate(classes):
    for f in sorted((data / "test" / name).iterdir()):
        im = Image.open(f).convert("RGB")
        w, h = im.size
        s = size / min(w, h)
        nw, nh = max(size, round(w * s)), max(size, round(h * s))
        im = im.resize((nw, nh), Image.BILINEAR)
        left, top = (nw - size) // 2, (nh - size) // 2
        px = np.asarray(im.crop((left, top, left + size, top + size)), dtype=np.uint8)
        r = spec["resolution"]
        planes = []
        for c in range(3):
            plane = Image.fromarray(px[..., c].astype(np.float32) / 255.0)
            plane = np.asarray(plane.resize((r, r), Image.BILINEAR))
            planes.append((plane - spec["mean"][c]) / spec["std"][c])
        x = np.stack(planes)[None].astype(np.float32)
        right += int(sess.run(None, {spec["name"]: x})[0].argmax() == label)
        total += 1
print(json.dumps({"accuracy": right / total, "images": total}))
"""


def test_the_card_reproduces_its_accuracy_from_the_raw_jpegs(tmp_path):
    """Plain Pillow + onnxruntime in another process, following the card, from the files."""
    import subprocess
    import sys

    data = tmp_path / "split"
    rng = np.random.default_rng(1)
    for part, n in (("train", 12), ("test", 6)):
        for c, colour in enumerate(((200, 40, 40), (40, 200, 40), (40, 40, 200))):
            (data / part / f"k{c}").mkdir(parents=True)
            for i in range(n):  # landscape photos: the recipe scales and crops them
                px = np.clip(rng.normal(colour, 50, (80, 104, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(px).save(data / part / f"k{c}" / f"{i}.jpg", quality=85)
    run = tmp_path / "run"
    _search(data, run)
    model = tmp_path / "model"
    res = autoedge("export", str(run), "--out", str(model))
    assert res.returncode == 0, res.stderr[-3000:]
    card = json.loads((model / "model_card.json").read_text())
    assert card["dataset"]["image_size"] == 80 and "shorter side" in card["input_doc"]
    assert card["dataset"]["train_augmentation"].startswith("random resized crop")
    done = subprocess.run(
        [sys.executable, "-c", REPRODUCE, str(model), str(data)],
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(done.stdout)
    assert got["images"] == card["dataset"]["test_images"] == 18
    assert abs(got["accuracy"] - card["metrics"]["accuracy"]) <= 0.001

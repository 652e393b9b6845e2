"""Write a folder all at once: fill a hidden sibling, then rename it into place.

A killed export leaves only a hidden `.NAME.partial-PID` sibling (removed by the next export
to the same place once its process is gone), never a half-written destination.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from autoedge.atomic_files import pid_alive
from autoedge.errors import ExportError


def check_destination(dest: Path, *, force: bool) -> None:
    """Raise ExportError unless `dest` is absent, an empty folder, or `force` allows replacing."""
    if not dest.exists():
        if not dest.parent.is_dir():
            raise ExportError(f"--out {dest}: the parent folder {dest.parent} does not exist")
        return
    if not dest.is_dir():
        raise ExportError(f"--out {dest} is a file; give a folder to export into")
    if any(dest.iterdir()) and not force:
        raise ExportError(
            f"--out {dest} is not empty; give a new folder, or --force to replace its contents"
        )


@contextlib.contextmanager
def staged_folder(dest: str | Path, *, force: bool = False) -> Iterator[Path]:
    """Yield an empty staging folder; on success it replaces `dest` in one rename.

    On an exception the staging folder is removed and `dest` is untouched.
    """
    dest = Path(dest).absolute()
    check_destination(dest, force=force)
    _remove_stale(dest)
    stage = dest.parent / f".{dest.name}.partial-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        yield stage
        check_destination(dest, force=force)  # it may have changed while we worked
        _replace(stage, dest)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _replace(stage: Path, dest: Path) -> None:
    old = dest.parent / f".{dest.name}.old-{os.getpid()}"
    if dest.exists():
        os.replace(dest, old)  # an empty folder, or --force: moved aside, removed after
    os.replace(stage, dest)
    shutil.rmtree(old, ignore_errors=True)


def _remove_stale(dest: Path) -> None:
    """Remove staging folders for `dest` left by export processes that no longer run."""
    for path in dest.parent.glob(f".{dest.name}.partial-*"):
        pid = path.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)

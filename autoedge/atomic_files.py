"""Crash-safe file writes: write a temp file beside the target, fsync, then os.replace.

Stdlib only, so every layer (hardware profiles, run folders, exports) can use it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Replace `path` with `data` atomically; on error the old file is left as it was."""
    write_with(path, lambda f: f.write(data), binary=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Replace `path` with UTF-8 `text` atomically (newlines written as given)."""
    write_with(path, lambda f: f.write(text), binary=False)


#: The names of the temp files `write_with` writes beside their targets.
TEMP_PATTERN = ".*.tmp"


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Remove the temp files that writers killed mid-write left in `folder` (their process is
    gone); the files they were replacing are intact. Returns what was removed."""
    removed = []
    for tmp in Path(folder).glob(TEMP_PATTERN):
        pid = tmp.name.rsplit(".", 3)[-3] if tmp.name.count(".") >= 4 else ""
        if pid.isdigit() and not pid_alive(int(pid)):
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_with(path: str | Path, write: Callable[[IO[Any]], object], *, binary: bool) -> None:
    """Replace `path` with what `write(file)` writes, atomically (temp file, fsync, rename)."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # O_EXCL: never reuse a stray file; mode 0o666 lets the umask decide as for a plain open().
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        if binary:
            f: IO[Any] = os.fdopen(fd, "wb")
        else:
            f = os.fdopen(fd, "w", encoding="utf-8", newline="")
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    try:
        with f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(target.parent)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable where the platform allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

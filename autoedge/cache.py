"""Where autoedge caches what it computes once per machine (teachers, latency data)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$AUTOEDGE_CACHE``, or ``~/.cache/autoedge``."""
    env = os.environ.get("AUTOEDGE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "autoedge"

"""Per-layer settings given by module-name prefix: the most specific matching prefix wins."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")


def setting_for(name: str, settings: Mapping[str, T], default: T) -> T:
    """Return the setting whose key is the longest prefix of `name` at a dot boundary.

    Keys are qualified module names such as ``"blocks.2"``; ``"blocks.2"`` matches
    ``"blocks.2.0.conv_pw"`` but not ``"blocks.20.0"``. The key ``""`` matches every name.
    """
    best_len = -1
    best = default
    for prefix, value in settings.items():
        matches = prefix == "" or name == prefix or name.startswith(prefix + ".")
        if matches and len(prefix) > best_len:
            best_len, best = len(prefix), value
    return best

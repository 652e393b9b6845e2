"""autoedge: joint NAS + compression search for edge devices."""

from __future__ import annotations

__version__ = "0.1.0"

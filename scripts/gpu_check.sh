#!/usr/bin/env bash
# The GPU run in one command (issue 14): train the shakespeare-char preset in bf16 with torch.compile,
# time the build-nanogpt ladder on GPT-2 small, run the CUDA-only tests, write one summary
# (_build/gpu_check/gpu_check.json and .txt). Without a CUDA GPU it runs the same steps at toy size on
# the CPU and says so. Options go to benchmarks/gpu_check.py (--out DIR, --toy, --help).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
if [ ! -x "$python" ]; then
    python="$(command -v python3 || true)"
fi
if [ -z "$python" ]; then
    echo "gpu_check.sh: no Python found; run 'make setup' or set PYTHON=/path/to/python" >&2
    exit 1
fi
cd "$root"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
exec "$python" benchmarks/gpu_check.py "$@"

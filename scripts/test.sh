#!/usr/bin/env bash
# Install what the tests need (scripts/setup.sh test: the project's .venv and the Airflow and vLLM
# venvs), then run the test suite in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
.venv/bin/python -m pytest -q

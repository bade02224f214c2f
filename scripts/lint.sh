#!/usr/bin/env bash
# Lint (ruff, configured in pyproject.toml), the format check and dead code (vulture), from the
# repository root; run by .ci/run before the tests. Fails on the first finding.
#   bash scripts/lint.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
"$PY" -m ruff check .
"$PY" -m ruff format --check .
# names only a framework uses (Beam's run_inference arguments, ...) are listed in vulture_whitelist.py
"$PY" -m vulture curate train schemas dags samplemedia vulture_whitelist.py --min-confidence 80

"""The layer contracts of pyproject.toml ([tool.importlinter], the same that ``lint-imports`` checks),
run by a plain ``pytest``: the step packages (curate.media, .text, .models, .output, curate.sources)
import neither Apache Beam nor curate.beam; curate.beam wires them; the launcher (curate.__main__,
curate.run, curate.recipes) has no Beam code of its own; curate imports neither dags nor samplemedia.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")


def contracts() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return {c["id"]: c for c in tomllib.load(f)["tool"]["importlinter"]["contracts"]}


def test_the_contracts_name_every_step_package():
    steps = contracts()["steps-no-beam"]
    packages = {p.name for p in (ROOT / "curate").iterdir() if (p / "__init__.py").exists()}
    assert set(steps["source_modules"]) == {f"curate.{p}" for p in packages - {"beam"}} | {"curate.sources"}
    assert set(steps["forbidden_modules"]) == {"apache_beam", "curate.beam"}
    assert set(contracts()) == {"steps-no-beam", "layers", "launcher-no-beam", "library-alone", "trainer-alone"}


def test_the_import_contracts_are_kept():
    import importlib.util
    import os
    import subprocess

    if importlib.util.find_spec("importlinter") is None:
        pytest.skip("import-linter is not installed (the test extra installs it: bash scripts/setup.sh)")
    # in a process of its own: lint_imports configures logging with dictConfig, which disables every
    # logger created before it (the trainer's warnings would vanish from later tests in this process)
    run = "from importlinter.cli import lint_imports; raise SystemExit(lint_imports(no_cache=True, no_logo=True))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", run], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr

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


def test_the_import_contracts_are_kept(capsys, monkeypatch):
    try:
        from importlinter.cli import lint_imports
    except ImportError:
        pytest.skip("import-linter is not installed (the test extra installs it: bash scripts/setup.sh)")
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT))  # the root packages are found from the checkout
    status = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    out = capsys.readouterr().out
    assert status == 0, out

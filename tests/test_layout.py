"""The layout of curate/: plain modules do not import Beam, and no module imports itself back.

Every import is read with `ast` from the source, at any depth (function-level imports count too),
so the check needs none of the imported packages.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CURATE = ROOT / "curate"
# Beam's FileSystems registry gives gs://, s3:// the same paths the runners use; curate.files is the
# one plain module allowed to use it (and nothing else of Beam).
STORAGE_ONLY = {"curate.files": ("apache_beam.io.filesystem", "apache_beam.io.filesystems")}
# Commands that run a pipeline: `curate stats` runs the finalize step (curate.beam.finalize) alone;
# a registered recipe (curate.recipes.Recipe.run) runs its pipeline with curate.beam.recipe.run_recipe.
LAUNCHERS = {"curate.statscmd": ("curate.beam.finalize",), "curate.recipes": ("curate.beam.recipe",)}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> set:
    """Every module `path` imports, anywhere in it; ``from pkg import name`` counts as pkg.name
    when that is a module of curate (so ``from curate.output import write`` is curate.output.write)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            for alias in node.names:
                found.add(f"{base}.{alias.name}")
    return found


def curate_modules() -> dict:
    """module name -> the curate modules it imports (only those that exist) and all its imports."""
    paths = {module_name(p): p for p in sorted(CURATE.rglob("*.py"))}
    graph = {}
    for name, path in paths.items():
        imports = imported_modules(path)
        graph[name] = ({m for m in imports if m in paths and m != name}, imports)
    return graph


GRAPH = curate_modules()


def is_beam_import(module: str) -> bool:
    return module == "apache_beam" or module.startswith(("apache_beam.", "curate.beam"))


@pytest.mark.parametrize("name", sorted(n for n in GRAPH if not n.startswith("curate.beam")))
def test_plain_modules_import_no_beam(name):
    allowed = STORAGE_ONLY.get(name, ()) + LAUNCHERS.get(name, ())
    beam = sorted(m for m in GRAPH[name][1] if is_beam_import(m) and not (allowed and m.startswith(allowed)))
    assert not beam, f"{name} is outside curate.beam but imports {beam}"


def find_cycle(graph: dict):
    """One import cycle as a list of modules, or None."""
    state: dict = {}  # module -> "visiting" | "done"
    stack: list = []

    def visit(node):
        state[node] = "visiting"
        stack.append(node)
        for dep in sorted(graph[node][0]):
            if state.get(dep) == "visiting":
                return stack[stack.index(dep) :] + [dep]
            if dep not in state:
                cycle = visit(dep)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_import_cycles():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_checks_see_what_they_must():
    # the checks read function-level imports and `from pkg import module`
    assert "curate.beam.recipe" in GRAPH["curate.beam.models"][0]
    assert "curate.beam.finalize" in GRAPH["curate.statscmd"][0]  # imported inside main
    assert any(m.startswith("apache_beam") for m in GRAPH["curate.files"][1])
    fake = {"a.x": ({"a.y"}, set()), "a.y": ({"a.x"}, set())}
    assert find_cycle(fake) == ["a.x", "a.y", "a.x"]

"""The recipe registry: what ``python -m curate run --recipe NAME`` can run.

A recipe is one module of the ``dags`` package that builds its Beam pipeline and registers itself
where it is defined::

    RECIPE = register_recipe(Recipe(name="hdvila", help="sentence clips at source resolution",
                                    build=build, cut=CutConfig(...), use_given_spans=True))

The command line (curate/run.py) names no recipe: its ``--recipe`` choices, the per-recipe defaults
in its help, and which recipes take the model options all come from here. Modules of ``dags`` that
never call ``register_recipe`` (the Airflow DAG, which needs Airflow) are not imported.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from dataclasses import dataclass
from typing import Callable

from curate.media.cut import CutConfig

# the packages whose modules are recipes (each module that calls register_recipe)
RECIPE_PACKAGES = ("dags",)


@dataclass(frozen=True)
class Recipe:
    name: str  # --recipe NAME
    help: str  # what it makes, for --recipe's help ("NAME: HELP; ...")
    build: Callable  # build(p, cfg, resume): the pipeline on p for a curate.config.RunConfig
    cut: CutConfig  # the cut settings the command line starts from (its options override each)
    use_given_spans: bool  # the default of --given-spans (use the clips a source gives)
    takes_models: bool = False  # the caption and summary model options apply to it

    @property
    def module(self) -> str:
        """The module that defines it (``python -m MODULE`` runs it alone)."""
        module = sys.modules[self.build.__module__]
        spec = getattr(module, "__spec__", None)
        return spec.name if spec is not None else module.__name__

    @property
    def description(self) -> str:
        """The first line of its module's docstring."""
        return (sys.modules[self.build.__module__].__doc__ or self.help).splitlines()[0]

    def run(self, cfg, pipeline_args: list, *, wait: bool = True):
        """Run it with a curate.config.RunConfig on the runner the Beam options choose."""
        from curate.beam.recipe import run_recipe  # heavy: Beam, only when a pipeline runs

        return run_recipe(self.build, cfg, pipeline_args, wait=wait)


_REGISTRY: dict = {}
_discovered = False


def register_recipe(recipe: Recipe) -> Recipe:
    """Add a recipe to the registry (called by the module that defines it); returns it."""
    known = _REGISTRY.get(recipe.name)
    # the same module imported twice (``python -m dags.vidla`` runs it as __main__, and discovery
    # imports it again) registers the same recipe: the first stays
    same = known is None or recipe.module == known.module or "__main__" in (recipe.module, known.module)
    if not same:
        raise ValueError(f"recipe {recipe.name!r} is defined twice: in {known.module} and {recipe.module}")
    _REGISTRY.setdefault(recipe.name, recipe)
    return _REGISTRY[recipe.name]


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    for package_name in RECIPE_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__, prefix=f"{package_name}."):
            spec = info.module_finder.find_spec(info.name)
            origin = spec.origin if spec is not None else None
            if info.ispkg or not origin or not origin.endswith(".py"):
                continue
            with open(origin, encoding="utf-8") as f:
                if "register_recipe(" not in f.read():
                    continue  # not a recipe: not imported (the Airflow DAG needs Airflow)
            importlib.import_module(info.name)
    _discovered = True


def recipes() -> dict:
    """name -> Recipe, sorted by name, for every recipe module found."""
    _discover()
    return dict(sorted(_REGISTRY.items()))


def get_recipe(name: str) -> Recipe:
    known = recipes()
    if name not in known:
        raise KeyError(f"unknown recipe {name!r}; expected one of {', '.join(known)}")
    return known[name]


def model_recipes_text() -> str:
    """Which recipes take the model options, as the command line says it: '--recipe vidla'."""
    return " or ".join(f"--recipe {name}" for name, r in recipes().items() if r.takes_models)

"""The recipe registry (curate/recipes.py): the command line's recipes, defaults and model options
come from the Recipe each module of dags/ registers, not from names in curate/run.py."""

from __future__ import annotations

import argparse
import sys

import pytest

from curate import recipes as registry
from curate.media.cut import CutConfig
from curate.recipes import Recipe, get_recipe, recipes, register_recipe
from curate.run import add_arguments, config_from_args


def test_every_recipe_module_is_found_and_the_airflow_dag_is_not_imported():
    found = recipes()
    assert list(found) == ["hdvila", "vidla"]
    assert {r.module for r in found.values()} == {"dags.hdvila", "dags.vidla"}
    assert "dags.airflow_vidla" not in sys.modules  # it needs Airflow: never imported by discovery
    assert [r.name for r in found.values() if r.takes_models] == ["vidla"]


@pytest.fixture
def extra_recipe(monkeypatch):
    """A third recipe, registered for one test only."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(recipes()))
    return register_recipe(
        Recipe(
            name="tiny",
            help="one clip per video",
            build=lambda p, cfg, resume: None,
            cut=CutConfig(mode="reencode", short_side=112),
            use_given_spans=True,
            takes_models=True,
        )
    )


def test_a_registered_recipe_is_a_choice_with_its_own_defaults(extra_recipe):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    help_text = parser.format_help()
    assert "tiny: one clip per video" in " ".join(help_text.split())
    args, _ = parser.parse_known_args(["--recipe", "tiny", "--input", "in", "--output", "out"])
    assert config_from_args("tiny", args).use_given_spans is True
    # the model options now apply to two recipes, and the error says so
    args, _ = parser.parse_known_args(
        ["--recipe", "hdvila", "--input", "in", "--output", "out", "--caption-model", "m"]
    )
    with pytest.raises(SystemExit, match="applies to --recipe tiny or --recipe vidla only"):
        config_from_args("hdvila", args)


def test_a_name_defined_in_two_modules_is_refused(extra_recipe):
    def build(p, cfg, resume):
        return None

    build.__module__ = "dags.hdvila"  # another module than the first definition's (this test's)
    with pytest.raises(ValueError, match="defined twice"):
        register_recipe(Recipe(name="tiny", help="x", build=build, cut=CutConfig(), use_given_spans=False))
    with pytest.raises(KeyError, match="unknown recipe 'nope'"):
        get_recipe("nope")

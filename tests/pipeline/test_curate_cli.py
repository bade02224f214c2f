"""The `run` and `stats` subcommands and the recipe modules as entry points: help, options, and
clear errors for what a user got wrong (the end-to-end runs are in test_recipes.py)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import pytest

from curate.__main__ import build_parser
from curate.run import add_arguments, config_from_args

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cli(*args, module="curate") -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run(
        [sys.executable, "-m", module, *args], env=env, capture_output=True, text=True, timeout=120, cwd=REPO
    )


def test_help_of_run_stats_and_the_recipe_modules():
    run_help = cli("run", "--help")
    assert run_help.returncode == 0
    for option in (
        "--recipe",
        "--input",
        "--output",
        "--cut-mode",
        "--short-side",
        "--shard-max-bytes",
        "--category-hour-cap",
        "--asr-model",
        "--given-spans",
        "--video-seconds",
    ):
        assert option in run_help.stdout
    assert cli("stats", "--help").returncode == 0
    vidla = cli("--help", module="dags.vidla")
    assert vidla.returncode == 0 and "--caption-model" in vidla.stdout and "--recipe" not in vidla.stdout
    assert cli("--help", module="dags.hdvila").returncode == 0


def parse(recipe, *argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser, recipe=recipe)
    args, extra = parser.parse_known_args(["--input", "x", "--output", "y", *argv])
    return config_from_args(recipe, args), extra


def test_recipe_defaults_and_overrides():
    vidla, _ = parse("vidla")
    assert (vidla.cut.mode, vidla.cut.short_side, vidla.use_given_spans) == ("reencode", 224, False)
    hdvila, _ = parse("hdvila")
    assert (hdvila.cut.short_side, hdvila.use_given_spans) == (None, True)
    keep, _ = parse("vidla", "--short-side", "0", "--given-spans", "use")
    assert keep.cut.short_side is None and keep.use_given_spans
    copy, _ = parse("vidla", "--cut-mode", "copy")
    assert copy.cut.mode == "copy" and copy.cut.short_side is None
    capped, extra = parse("hdvila", "--category-hour-cap", "30000", "--runner", "DirectRunner")
    assert capped.filter.category_hour_cap == 30000 and extra == ["--runner", "DirectRunner"]
    assert capped.download.output_dir == os.path.join("y", ".downloads")
    assert capped.video_seconds is None
    windows, _ = parse("vidla", "--video-seconds", "256")
    assert windows.video_seconds == 256.0


def test_user_mistakes_are_clear_errors(tmp_path):
    with pytest.raises(SystemExit, match="copy.*cannot change the resolution"):
        parse("hdvila", "--cut-mode", "copy", "--short-side", "224")
    parser = argparse.ArgumentParser()
    add_arguments(parser)  # `curate run` knows the model options of every recipe
    args = parser.parse_args(["--recipe", "hdvila", "--input", "x", "--output", "y", "--caption-model", "m"])
    with pytest.raises(SystemExit, match="--caption-model applies to --recipe vidla only"):
        config_from_args("hdvila", args)
    with pytest.raises(SystemExit, match="no-such-model"):
        parse("vidla", "--caption-model", str(tmp_path / "no-such-model"))
    missing = cli("run", "--recipe", "vidla", "--input", str(tmp_path / "nope"), "--output", str(tmp_path / "o"))
    assert missing.returncode != 0 and "does not exist" in missing.stderr
    assert not (tmp_path / "o").exists()
    no_run = cli("stats", str(tmp_path))
    assert no_run.returncode != 0 and "not a finished curation run" in no_run.stderr
    unknown = cli("stats", str(tmp_path), "--runner", "DirectRunner")
    assert unknown.returncode != 0 and "unrecognized arguments" in unknown.stderr


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--category-hour-cap", "-1"], "category_hour_cap must be > 0"),
        (["--min-duration", "60", "--max-duration", "30"], "max_duration 30.0 is below min_duration 60.0"),
        (["--min-height", "-720"], "min_height must be >= 0"),
        (["--video-seconds", "0"], "scale video: need 0 < min <= target <= max"),
    ],
)
def test_impossible_filter_options_are_one_clear_line(argv, message):
    with pytest.raises(SystemExit, match=message):
        parse("vidla", *argv)


def test_misspelt_options_and_a_file_as_output_are_refused_before_running(tmp_path):
    videos = tmp_path / "videos.txt"
    videos.write_text("https://www.youtube.com/watch?v=aaaaaaaaaaa\n")
    argv = ["run", "--recipe", "vidla", "--input", str(videos), "--output", str(tmp_path / "o")]
    typo = cli(*argv, "--shard-max-smples", "1")
    assert typo.returncode != 0 and "--shard-max-smples (did you mean --shard-max-samples?)" in typo.stderr
    assert "Traceback" not in typo.stderr and not (tmp_path / "o").exists()
    recipe_typo = cli("--input", str(videos), "--output", str(tmp_path / "o"), "--runer", "x", module="dags.hdvila")
    assert recipe_typo.returncode != 0 and "did you mean --runner?" in recipe_typo.stderr
    a_file = tmp_path / "out.txt"
    a_file.write_text("not a folder")
    as_file = cli("run", "--recipe", "vidla", "--input", str(videos), "--output", str(a_file))
    assert as_file.returncode != 0 and "is a file, not a directory" in as_file.stderr
    assert "Traceback" not in as_file.stderr and a_file.read_text() == "not a folder"


def test_an_abbreviation_is_no_option_and_a_near_miss_is_reported_before_beam_is_imported(tmp_path):
    videos = tmp_path / "videos.txt"
    videos.write_text("https://www.youtube.com/watch?v=aaaaaaaaaaa\n")
    code = (
        "import sys\nfrom curate.__main__ import main\ntry:\n    main(sys.argv[1:])\n"
        "except SystemExit as exc:\n    print(exc, file=sys.stderr)\n"
        "print('beam imported' if 'apache_beam' in sys.modules else 'beam not imported')\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "run",
            "--recipe",
            "vidla",
            "--input",
            str(videos),
            "--output",
            str(tmp_path / "o"),
            "--short-sid",
            "128",
        ],
        env=dict(os.environ, PYTHONPATH=REPO),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert "error: unknown option(s): --short-sid (did you mean --short-side?)" in done.stderr
    assert done.stdout.strip() == "beam not imported" and not (tmp_path / "o").exists()


def test_no_beam_pipeline_option_is_taken_for_a_near_miss_of_ours():
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    from curate.run import misspelt_options

    beam = _BeamArgumentParser(allow_abbrev=False)
    for cls in {str(c): c for c in PipelineOptions.__subclasses__()}.values():
        cls._add_argparse_args(beam)
    beam_options = [o for a in beam._actions for o in a.option_strings if o.startswith("--")]
    assert len(beam_options) > 100
    for recipe in ("hdvila", "vidla"):
        parser = argparse.ArgumentParser()
        add_arguments(parser, recipe=recipe)
        own = [o for a in parser._actions for o in a.option_strings]
        assert misspelt_options(beam_options, own) == ""
        assert misspelt_options(["--no-clip-parquet"], own).endswith("(did you mean --no-clips-parquet?)")


def test_a_run_that_keeps_no_clip_exits_1_after_writing_its_failures(sample_video, tmp_path, capsys):
    from curate.__main__ import main

    out = tmp_path / "out"
    assert (
        main(
            ["run", "--recipe", "hdvila", "--input", sample_video.folder, "--output", str(out), "--min-height", "4000"]
        )
        == 1
    )
    assert "error: no clip kept from 1 videos" in capsys.readouterr().err
    [failure] = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert (failure["video_id"], failure["reason"]) == (sample_video.video_id, "below_4000p")


def test_run_is_a_subcommand():
    parser = build_parser()
    args, extra = parser.parse_known_args(
        ["run", "--recipe", "hdvila", "--input", "a", "--output", "b", "--num_workers", "4"]
    )
    assert args._module.__name__ == "curate.run" and extra == ["--num_workers", "4"]


def test_beam_pipeline_options_pass_the_unknown_option_check():
    from curate.beam.recipe import pipeline_options
    from curate.errors import UnknownOptionsError

    pipeline_options(
        [
            "--runner",
            "DataflowRunner",
            "--project",
            "p",
            "--region",
            "r",
            "--temp_location",
            "gs://b/t",
            "--direct_num_workers=2",
            "--direct_running_mode",
            "multi_processing",
            "--experiments",
            "x",
        ]
    )
    with pytest.raises(UnknownOptionsError, match="--outptu") as raised:
        pipeline_options(["--outptu", "x"])
    assert "--output" not in raised.value.known and "--runner" in raised.value.known

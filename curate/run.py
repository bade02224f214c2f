"""``python -m curate run``: run a curation recipe (Beam pipeline) from a manifest or a yt-dlp folder
to WebDataset shards, clips.parquet, failures.jsonl, stats.json and report.md.

Arguments this command does not know are Beam pipeline options, passed to the runner untouched,
e.g. ``--runner DataflowRunner --project P --region R --temp_location gs://B/tmp``.
A rerun over the same --output resumes: finished videos are skipped, nothing is duplicated.
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import os
import sys

from curate.children import children_die_with_run
from curate.config import RunConfig
from curate.errors import EnvironmentFault, OutputConflictError, UnknownOptionsError
from curate.files import UnsafeFile, check_regular, exists, join, read_bytes
from curate.media.cut import MODES, CutConfig
from curate.media.download import DownloadConfig
from curate.media.filter import FilterConfig
from curate.models.asr import AsrConfig
from curate.models.check import validate_models
from curate.models.config import add_arguments as add_model_arguments
from curate.output.write import ShardConfig
from curate.recipes import get_recipe, model_recipes_text, recipes
from curate.sources import check_source, local_path
from curate.text import video_scale


def add_arguments(parser: argparse.ArgumentParser, *, recipe: str | None = None) -> None:
    """The options of `curate run` (every recipe: --recipe chooses) or of one recipe's own command."""

    known = recipes()
    if recipe is None:
        parser.add_argument(
            "--recipe",
            choices=sorted(known),
            required=True,
            help="; ".join(f"{r.name}: {r.help}" for r in known.values()),
        )
    parser.add_argument(
        "--input",
        required=True,
        help="manifest (csv, tsv, jsonl, parquet, HD-VILA jsonl, "
        "Panda-70M csv) or a yt-dlp download folder; local path or file:// URL",
    )
    parser.add_argument(
        "--output", required=True, help="output directory (local or gs://...); rerunning over it resumes"
    )
    parser.add_argument("--id-column", help="manifest column with the video id (default: detected)")
    parser.add_argument("--url-column", help="manifest column with the URL (default: detected)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what each stage does")
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress display (local runners show one on a terminal: videos done of total, clips, "
        "failures by stage, videos/s and ETA; a line a minute when the output is not a terminal)",
    )
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="redo the videos earlier runs into --output dropped (e.g. after fixing their subtitles); "
        "accepts a changed --input. Other settings than the recorded ones are always refused",
    )

    g = parser.add_argument_group("filter")
    g.add_argument("--min-height", type=int, default=720, help="minimum video height (default %(default)s)")
    g.add_argument("--min-duration", type=float, default=10.0, help="seconds (default %(default)s)")
    g.add_argument("--max-duration", type=float, default=None, help="seconds (default: no bound)")
    g.add_argument("--languages", default="en", help="comma-separated wanted languages; '' for any")
    g.add_argument(
        "--no-asr",
        action="store_true",
        help="drop videos without English subtitles instead of transcribing their audio",
    )
    g.add_argument(
        "--category-hour-cap",
        type=float,
        default=None,
        help="per-category hour cap (HD-VILA: 30000); default: none",
    )

    g = parser.add_argument_group("download")
    g.add_argument(
        "--download-dir",
        help="where videos are downloaded (default: DIR/.downloads); when it is not local (gs://...), "
        "a scratch folder on each worker's disk. A video's folder is deleted once its clips are staged",
    )
    g.add_argument(
        "--probe-dir",
        help="where probed info jsons are kept, local or any Beam filesystem path (default: DIR/.probe)",
    )
    g.add_argument("--retries", type=int, default=5, help="retries on 429/403/5xx/timeouts")
    g.add_argument(
        "--download-deadline",
        type=float,
        default=1800.0,
        help="seconds one video's download may take in all, retries included; past it the "
        "download is killed and the video fails with reason 'deadline' (default %(default)s)",
    )
    g.add_argument(
        "--socket-timeout",
        type=float,
        default=30.0,
        help="seconds yt-dlp waits for data on a connection (default %(default)s)",
    )
    g.add_argument(
        "--min-rate",
        type=float,
        default=32.0,
        metavar="KIB_PER_S",
        help="a download slower than this over --rate-window is killed (and retried); the "
        "video fails with reason 'too_slow'. 0: no minimum (default %(default)s KiB/s)",
    )
    g.add_argument(
        "--rate-window",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="seconds over which --min-rate is measured (default %(default)s)",
    )
    g.add_argument("--min-interval", type=float, default=0.0, help="per-worker seconds between downloads")
    g.add_argument("--cookies", help="cookies.txt for yt-dlp")
    g.add_argument("--proxy", help="proxy URL for yt-dlp")

    g = parser.add_argument_group("transcript")
    g.add_argument(
        "--asr-model",
        default="tiny.en",
        help="faster-whisper model name or local folder, for videos without subtitles",
    )
    g.add_argument("--asr-device", default="cpu", help="cpu, cuda or auto")
    g.add_argument(
        "--max-subtitle-mb",
        type=float,
        default=None,
        metavar="MB",
        help="the largest subtitle file read, in MiB; a larger one (or a path that is not a regular "
        "file) fails its video (default 64)",
    )
    g.add_argument(
        "--punctuator",
        default=None,
        help="punctuators model (name or folder) for unpunctuated text; default: pause-based",
    )
    g.add_argument(
        "--given-spans",
        choices=("use", "ignore"),
        default=None,
        help="clips given by the source (HD-VILA release, Panda-70M): default "
        + ", ".join(f"{'use' if r.use_given_spans else 'ignore'} for {r.name}" for r in known.values()),
    )
    g.add_argument(
        "--video-seconds",
        type=float,
        default=None,
        metavar="SECONDS",
        help="also emit the 'video' scale (long-video recipe, seed 003): each whole video, or windows "
        "of it of at most SECONDS cut at sentence boundaries (256 = 4.3 minutes); default: off",
    )

    d = CutConfig()
    g = parser.add_argument_group("cut and shards")
    g.add_argument(
        "--cut-mode",
        choices=MODES,
        default=d.mode,
        help="copy: keyframe stream copy (fast); reencode: exact (default %(default)s)",
    )
    g.add_argument(
        "--short-side",
        type=int,
        default=None,
        help="re-encode to this short side; 0 keeps the source (default: "
        + ", ".join(f"{r.name} {r.cut.short_side or 0}" for r in known.values())
        + ")",
    )
    g.add_argument("--crf", type=int, default=d.crf)
    g.add_argument("--preset", default=d.preset, help="libx264 preset (default %(default)s)")
    g.add_argument("--clips-per-process", type=int, default=d.clips_per_process)
    s = ShardConfig()
    g.add_argument("--shard-max-samples", type=int, default=s.max_samples, help="clips per shard")
    g.add_argument("--shard-max-bytes", type=int, default=s.max_bytes, help="bytes per shard")
    g.add_argument(
        "--no-clips-parquet",
        dest="index_file",
        action="store_false",
        help="do not write DIR/clips.parquet, the whole index in one file (convenient for small and "
        "medium runs); the index is the shards' Parquet sidecars either way (docs/scale.md)",
    )

    if any(r.takes_models for r in (known.values() if recipe is None else [known[recipe]])):
        add_model_arguments(parser)


def config_from_args(recipe: str, args: argparse.Namespace):
    """A RunConfig for `recipe` from parsed arguments (the recipe's defaults where none is given)."""

    chosen = get_recipe(recipe)
    short_side = chosen.cut.short_side if args.short_side is None else (args.short_side or None)
    if args.cut_mode == "copy":
        short_side = None if args.short_side is None else short_side
    try:
        cut = CutConfig(
            mode=args.cut_mode,
            short_side=short_side,
            crf=args.crf,
            preset=args.preset,
            clips_per_process=args.clips_per_process,
        )
        shards = ShardConfig(args.shard_max_samples, args.shard_max_bytes)
        filter_cfg = FilterConfig(
            min_height=args.min_height,
            min_duration_s=args.min_duration,
            max_duration_s=args.max_duration,
            languages=tuple(x for x in args.languages.split(",") if x),
            allow_asr=not args.no_asr,
            category_hour_cap=args.category_hour_cap,
        )
        download = DownloadConfig(
            output_dir=args.download_dir or join(args.output, ".downloads"),
            min_height=args.min_height,
            retries=args.retries,
            deadline_s=args.download_deadline,
            socket_timeout_s=args.socket_timeout,
            min_rate_bytes_per_s=args.min_rate * 1024,
            rate_window_s=args.rate_window,
            min_interval_s=args.min_interval,
            cookies_file=args.cookies,
            proxy=args.proxy,
        )
        if args.max_subtitle_mb is not None and not args.max_subtitle_mb > 0:
            raise ValueError(f"--max-subtitle-mb must be > 0, got {args.max_subtitle_mb}")
        if args.video_seconds is not None:
            video_scale(args.video_seconds)  # a bad length fails here, not in the workers
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from exc
    given = chosen.use_given_spans if args.given_spans is None else args.given_spans == "use"
    annotate = None
    models = [o for o in ("caption_model", "summary_model") if getattr(args, o, None)]
    if models and not chosen.takes_models:
        raise SystemExit(f"error: --{models[0].replace('_', '-')} applies to {model_recipes_text()} only")
    if chosen.takes_models:
        try:
            annotate = validate_models(args)  # fails now, not in the middle of a run
        except ValueError as exc:
            raise SystemExit(f"error: {exc}") from exc
    return RunConfig(
        recipe=recipe,
        input=args.input,
        output=args.output,
        id_column=args.id_column,
        url_column=args.url_column,
        filter=filter_cfg,
        download=download,
        probe_dir=args.probe_dir,
        asr=AsrConfig(model=args.asr_model, device=args.asr_device),
        punctuator=args.punctuator,
        max_subtitle_bytes=int(args.max_subtitle_mb * 2**20) if args.max_subtitle_mb else None,
        use_given_spans=given,
        video_seconds=args.video_seconds,
        cut=cut,
        shards=shards,
        retry_failed=args.retry_failed,
        annotate=annotate,
        index_file=args.index_file,
        quiet=getattr(args, "quiet", False),
    )


def check_paths(input_path: str, output: str, id_column=None, url_column=None) -> None:
    local_input = local_path(input_path)
    if local_input is not None and not os.path.exists(local_input):
        raise SystemExit(f"error: --input {input_path} does not exist")
    if local_input is not None and not os.path.isdir(local_input):
        try:
            check_regular(local_input)  # reading a named pipe would wait for a writer forever
        except UnsafeFile as exc:
            raise SystemExit(f"error: --input {exc}") from None
    if local_input is not None:
        try:
            check_source(input_path, id_column=id_column, url_column=url_column)
        except ValueError as exc:
            raise SystemExit(f"error: --input {exc}") from None
    local = local_path(output)
    if local is not None:
        problem = output_problem(local, local_input)
        if problem:
            raise SystemExit(f"error: --output {output} {problem}")


def output_problem(local: str, local_input: str | None) -> str:
    """Why a run cannot write the local output folder ``local`` (created later, not here), or "".
    Nothing is written: a mistake found here leaves no trace."""
    if os.path.exists(local) and not os.path.isdir(local):
        return "is a file, not a directory"
    if local_input is not None and os.path.realpath(local) == os.path.realpath(local_input):
        # the run's own files (clips.parquet, stats.json, ...) would change its input's fingerprint,
        # and every rerun would be refused as reading another input
        return "is the --input folder; write the output to another folder"
    existing = os.path.abspath(local)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        return f"cannot be made: {existing} is a file, not a directory"
    if os.statvfs(existing).f_flag & os.ST_RDONLY:
        return f"cannot be written: {existing} is on a read-only file system"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot be written: no permission to write in {existing}"
    return ""


def unknown_options_message(exc, own_options: list) -> str:
    """The error line for options that neither this command nor Beam knows, with did-you-mean hints."""

    known = own_options + exc.known
    hints = [
        f"{n} (did you mean {close[0]}?)" if (close := difflib.get_close_matches(n, known, 1)) else n for n in exc.names
    ]
    return f"error: unknown option(s): {', '.join(hints)}; neither this command nor Beam's pipeline options know them"


def misspelt_options(pipeline_args: list, own_options: list) -> str:
    """The error line for pass-through options that are near misses of this command's own (--short-sid
    for --short-side), or "". Found before Beam is imported (seconds): Beam's own options are
    underscored words (--temp_location, --runner) that are no near miss of these dashed names, as
    tests/pipeline/test_curate_cli.py checks for every PipelineOptions class."""

    names = [a.split("=", 1)[0] for a in pipeline_args if a.startswith("--")]
    hints = [
        f"{n} (did you mean {close[0]}?)"
        for n in names
        if n not in own_options and (close := difflib.get_close_matches(n, own_options, 1, MISSPELT_CUTOFF))
    ]
    return f"error: unknown option(s): {', '.join(hints)}" if hints else ""


MISSPELT_CUTOFF = 0.8  # difflib ratio: --short-sid/--short-side 0.96, --runner/--retries 0.59


def _option_strings(parser: argparse.ArgumentParser) -> list:
    return [o for a in parser._actions for o in a.option_strings]


def run(recipe: str, args: argparse.Namespace, own_options: list = ()) -> dict:
    """Run the recipe; returns the stats of the output directory. ``own_options``: the command's option
    strings, for hints when a pass-through argument is not a Beam option either."""

    misspelt = misspelt_options(list(args.pipeline_args or []), list(own_options))
    if misspelt:
        raise SystemExit(misspelt)

    check_paths(args.input, args.output, args.id_column, args.url_column)
    cfg = config_from_args(recipe, args)

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        with children_die_with_run():  # SIGTERM: ffmpeg and the downloads end before the run's lock goes
            get_recipe(recipe).run(cfg, list(args.pipeline_args or []))
    except UnknownOptionsError as exc:
        raise SystemExit(unknown_options_message(exc, list(own_options))) from None
    except (OutputConflictError, EnvironmentFault) as exc:
        raise SystemExit(f"error: {exc}") from None
    stats_path = join(cfg.output, "stats.json")
    return json.loads(read_bytes(stats_path)) if exists(stats_path) else {}


def _print_summary(output: str, stats: dict) -> None:
    if not stats:  # a runner that does not wait (e.g. Dataflow with --no-wait) writes them later
        print(f"submitted; outputs will appear in {output}")
        return
    counts = stats["counts"]
    print(
        f"{stats['num_clips']} clips in {stats['num_shards']} shards from {counts['videos_kept']} of "
        f"{counts['videos_in']} videos -> {output}"
    )
    for reason, n in counts["videos_failed_by_reason"].items():
        print(f"  dropped {n} videos: {reason}")
    for reason, n in counts["clips_failed_by_reason"].items():
        print(f"  dropped {n} clips: {reason}")
    print(
        f"results: {output}/report.md (what the dataset holds and which models made it), stats.json, "
        "failures.jsonl, shards/"
    )
    print(
        f"next: python -m curate gallery {output}    # look at sampled clips in the browser\n"
        f"      python -m train fit --config vidla-tiny-cpu --shards {output} --output RUN"
    )


def _exit_status(output: str, stats: dict) -> int:
    """1 when a non-empty input kept no clip (everything is in failures.jsonl, written by then)."""
    counts = stats.get("counts", {})
    if counts.get("videos_in") and not stats.get("num_clips"):
        print(
            f"error: no clip kept from {counts['videos_in']} videos; why each was dropped is in "
            f"{output}/failures.jsonl",
            file=sys.stderr,
        )
        return 1
    return 0


def main(args: argparse.Namespace, own_options: list = ()) -> int:
    stats = run(args.recipe, args, own_options)
    _print_summary(args.output, stats)
    return _exit_status(args.output, stats)


def main_for_recipe(recipe: str, argv=None) -> int:
    """The entry point of a recipe module (``python -m dags.vidla ...``)."""
    chosen = get_recipe(recipe)
    parser = argparse.ArgumentParser(
        prog=f"python -m {chosen.module}", description=chosen.description, allow_abbrev=False
    )
    add_arguments(parser, recipe=recipe)
    args, extra = parser.parse_known_args(argv)
    args.pipeline_args = extra
    stats = run(recipe, args, _option_strings(parser))
    _print_summary(args.output, stats)
    return _exit_status(args.output, stats)

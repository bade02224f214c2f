"""The pieces every recipe composes, and how a recipe is run.

A recipe (dags/hdvila.py, dags/vidla.py) is::

    selected = select_videos(p, cfg, resume)       read -> probe -> filter (+ category cap) -> skip done
    ready    = selected.videos | DownloadVideos | MakeTranscripts | PlanClips -> (VideoMeta, tuple[Clip])
    write_outputs(p, ready, failures, selected, cfg, resume)   cut -> stage -> shards -> summary files
  or, with the vidla model stages (curate.beam.models.AnnotateClips does the cut itself):
    staged   = ready | AnnotateClips     cut + decode frames -> caption -> summarize -> commit staging
    write_staged_outputs(p, staged, failures, selected, cfg, resume)      shards -> summary files

Nothing holds the whole dataset in one worker (docs/scale.md): what an earlier run finished is joined
with the inputs by video id (curate.beam.resume), shards are packed per hash bucket
(curate.beam.shards), and the summary files are rebuilt from mergeable totals (curate.beam.finalize).

A video's files (download, subtitles) are on the disk of the worker that downloaded it, so there is
no shuffle from DownloadVideos to the cut: Beam fuses them into one chain per video, and the cut
deletes the download folder once the clips are staged (DIR/.staging, through curate.output.write). Only
small records and files on the output filesystem travel after that.

Every stage returns (ok, failures); all failures are flattened, recorded under DIR/.state as they
happen (so a killed run does not redo terminal decisions), and the standing ones are written to
DIR/failures.jsonl at the end. The whole pipeline runs on any Beam runner: the default is Beam's
in-process FnApiRunner (LOCAL_RUNNER); Dataflow, Flink or
Spark are chosen with Beam's own pipeline options, passed through untouched.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from typing import Callable, NamedTuple

import apache_beam as beam
from apache_beam.options.pipeline_options import (
    GoogleCloudOptions,
    PipelineOptions,
    SetupOptions,
    StandardOptions,
    _BeamArgumentParser,
)
from apache_beam.pvalue import TaggedOutput

from curate.beam.finalize import Finalize
from curate.beam.resume import NotRecorded, Resume
from curate.beam.runner import LOCAL_RUNNER
from curate.beam.shards import WriteShards
from curate.beam.stages import FAILURES, to_failure
from curate.beam.transcripts import MakeTranscripts, PlanClips
from curate.beam.videos import DownloadVideos, FilterVideos, ProbeVideos, ReadSources
from curate.config import RunConfig
from curate.errors import UnknownOptionsError
from curate.files import _local, ensure_free_space, is_local, join
from curate.media.cut import CutConfig, cut_video
from curate.media.download import discard_download
from curate.output import failures as fail
from curate.output.lock import lock_output
from curate.output.resume import ResumeState, load_resume_state
from curate.output.settings import check_rerun
from curate.progress import Progress
from curate.text import with_video_scale
from schemas import Failure

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# selecting the videos


class Selected(NamedTuple):
    """What select_videos gives a recipe."""

    videos: object  # PCollection[VideoMeta]: to do in this run
    failures: list  # [PCollection[Failure]]
    num_read: object  # PCollection of one number: the input rows read
    staged_earlier: object  # PCollection[write.ShardEntry]: staged by an earlier run, not yet in a shard


def select_videos(p, cfg: RunConfig, resume: ResumeState) -> Selected:
    """read -> probe -> filter (+ category cap), without what an earlier run finished.

    Finished videos are skipped before the probe (no yt-dlp call for them), except under a category
    hour cap: the cap must see every video to keep the same ones as the first run, so they are
    skipped after it."""
    sources, read_failures = p | "ReadSources" >> ReadSources(
        cfg.input, id_column=cfg.id_column, url_column=cfg.url_column
    )
    capped = cfg.filter_config().category_hour_cap is not None
    download = cfg.download_config()
    if capped:
        to_probe = sources
    else:
        to_probe, earlier, recorded = sources | "Resume" >> Resume(cfg.output, resume)
    probed, probe_failures = to_probe | "ProbeVideos" >> ProbeVideos(
        download, cfg.probe_dir or join(cfg.output, ".probe")
    )
    kept, filter_failures = probed | "FilterVideos" >> FilterVideos(cfg.filter_config())
    if capped:
        todo, earlier, recorded = kept | "Resume" >> Resume(cfg.output, resume)
        # the finished videos were probed and filtered again: only new decisions are written
        probe_failures = probe_failures | "NewProbeFailures" >> NotRecorded(recorded)
        filter_failures = filter_failures | "NewFilterFailures" >> NotRecorded(recorded)
    else:
        todo = kept
    # the same input read again gives the same bad rows: write only those not yet recorded
    new_read_failures = read_failures | "NewReadFailures" >> NotRecorded(recorded)
    num_read = (sources, read_failures) | "AllRead" >> beam.Flatten() | "CountRead" >> beam.combiners.Count.Globally()
    return Selected(todo, [new_read_failures, probe_failures, filter_failures], num_read, earlier)


def prepare_clips(videos, cfg: RunConfig, recipe):
    """download -> transcript (subtitles or ASR) -> plan clips.

    Returns (PCollection[(VideoMeta, tuple[Clip])], [failures])."""
    if cfg.video_seconds is not None:
        recipe = with_video_scale(recipe, cfg.video_seconds)
    download = cfg.download_config()
    downloaded, download_failures = videos | "DownloadVideos" >> DownloadVideos(download)
    transcripts = MakeTranscripts(cfg.asr, cfg.max_subtitle_bytes)
    transcribed, transcript_failures = downloaded | "MakeTranscripts" >> transcripts
    planned, plan_failures = transcribed | "PlanClips" >> PlanClips(
        recipe, punctuator=cfg.punctuator, use_given_spans=cfg.use_given_spans
    )
    # fused with the download (no shuffle in between): the failed video's folder is on this worker
    done_with = (
        (transcript_failures, plan_failures)
        | "AfterDownloadFailures" >> beam.Flatten()
        | "DiscardFailedDownloads" >> beam.Map(_discard_download_of, download)
    )
    return planned, [download_failures, done_with]


def _discard_download_of(failure: Failure, download) -> Failure:
    """Pass a video's failure on, after deleting its download folder: no later stage reads it."""
    if not failure.key:
        discard_download(failure.video_id, download)
    return failure


# ---------------------------------------------------------------------------------------------
# cut, shards and the summary files


class _CutVideo(beam.DoFn):
    """(VideoMeta, tuple[Clip]) -> StagedVideo (+ FAILURES). A subclass that must still read the
    source media (curate.beam.models decodes frames) does it in after_cut, before the download
    is discarded, with commit=False when its outputs still change the manifest."""

    commit = True

    def __init__(self, out_dir: str, config: CutConfig, download=None):
        self._out_dir, self._config, self._download = out_dir, config, download
        self._clips_ok = beam.metrics.Metrics.counter("cut", "clips_ok")
        self._clips_failed = beam.metrics.Metrics.counter("cut", "clips_failed")

    def after_cut(self, meta, staged) -> tuple:
        """(staged, more): the staged video, which this may annotate from the source media (a video
        with staged clips), and more outputs (tagged or not) made from that media."""
        return staged, []

    def process(self, element):
        meta, clips = element
        try:
            staged = cut_video(meta, clips, self._out_dir, self._config, commit=self.commit)
            staged, more = self.after_cut(meta, staged) if staged.clips else (staged, [])
        except Exception as exc:  # noqa: BLE001 - the whole video failed: one record, nothing dropped
            yield TaggedOutput(FAILURES, to_failure(exc, "cut", meta))
            return
        finally:
            if self._download is not None:  # staged or failed for good: its download is done with
                discard_download(meta.video_id, self._download)
        self._clips_ok.inc(len(staged.clips))
        self._clips_failed.inc(len(staged.failures))
        for failure in staged.failures:
            yield TaggedOutput(FAILURES, failure)
        if staged.clips:
            yield staged
        yield from more


class CutClips(beam.PTransform):
    """``staged, failures = videos | CutClips(out_dir, cut_config, download_config)`` over
    (VideoMeta, tuple[Clip]): cuts each video's clips and stages them in DIR/.staging/<video>/
    (schemas.Failure per broken clip, stage "cut"). With a curate.media.download.DownloadConfig, the
    folder the download stage made for a video is deleted once the video is cut (never input files)."""

    def __init__(self, out_dir: str, config: CutConfig, download=None):
        super().__init__()
        self._out_dir, self._config, self._download = out_dir, config, download

    def expand(self, videos):
        cut = _CutVideo(self._out_dir, self._config, self._download)
        out = videos | beam.ParDo(cut).with_outputs(FAILURES, main="ok")
        return out.ok, out[FAILURES]


class _RecordFailures(beam.DoFn):
    """Persist failures per bundle (DIR/.state/failures/run-*.jsonl) and pass them on."""

    def __init__(self, out_dir: str, run_id: str):
        self._out_dir, self._run_id = out_dir, run_id

    def start_bundle(self):
        self._buffer = []

    def process(self, failure: Failure):
        self._buffer.append(failure)
        yield failure

    def finish_bundle(self):
        fail.record_failures(self._out_dir, self._buffer, self._run_id)
        self._buffer = []


def write_outputs(p, ready, failures: list, selected: Selected, cfg: RunConfig, resume: ResumeState):
    """cut -> stage -> shards -> clips.parquet, failures.jsonl, stats.json, report.md."""
    staged, cut_failures = ready | "CutClips" >> CutClips(cfg.output, cfg.cut, cfg.download_config())
    return write_staged_outputs(p, staged, failures + [cut_failures], selected, cfg, resume)


def write_staged_outputs(p, staged, failures: list, selected: Selected, cfg: RunConfig, resume: ResumeState):
    """Committed staged videos -> shards -> clips.parquet, failures.jsonl, stats.json, report.md."""
    shards = (
        (staged, selected.staged_earlier)
        | "AllStagedVideos" >> beam.Flatten()
        | "WriteShards" >> WriteShards(cfg.output, cfg.shards, resume.next_shard_index)
    )
    recorded = (
        tuple(failures)
        | "AllFailures" >> beam.Flatten()
        | "RecordFailures" >> beam.ParDo(_RecordFailures(cfg.output, resume.run_id))
    )
    return p | "FinalizeOutputs" >> Finalize(
        cfg.output,
        after=[shards, recorded],
        videos_in=selected.num_read,
        run_id=resume.run_id,
        index_file=cfg.index_file,
    )


# ---------------------------------------------------------------------------------------------
# running a recipe


def pipeline_options(pipeline_args: list):
    """Beam options from the pass-through arguments; LOCAL_RUNNER unless a runner is given. An
    argument no PipelineOptions class knows raises UnknownOptionsError (Beam would only warn)."""

    parser = _BeamArgumentParser(allow_abbrev=False)
    for cls in {str(c): c for c in PipelineOptions.__subclasses__()}.values():
        cls._add_argparse_args(parser)  # the parser Beam builds in PipelineOptions.get_all_options
    _, unknown = parser.parse_known_args(pipeline_args)
    if unknown:
        names = [u.split("=", 1)[0] for u in unknown if u.startswith("-")] or unknown
        raise UnknownOptionsError(names, [o for a in parser._actions for o in a.option_strings])
    options = PipelineOptions(pipeline_args)
    if not options.view_as(StandardOptions).runner:
        options.view_as(StandardOptions).runner = LOCAL_RUNNER
    # stages reference module-level functions and configs: the main session need not be pickled
    options.view_as(SetupOptions).save_main_session = False
    return options


def check_tools() -> None:
    if shutil.which("ffmpeg") is None:
        raise SystemExit("ffmpeg is not on PATH: install it (apt-get install ffmpeg) to cut clips")


def run_recipe(build: Callable, cfg: RunConfig, pipeline_args: list, *, wait: bool = True):
    """Build the recipe over a fresh or resumed output directory and run it. Returns the result."""
    options = pipeline_options(pipeline_args)  # before anything is written
    check_tools()
    if is_local(cfg.output):
        os.makedirs(_local(cfg.output), exist_ok=True)
    ensure_free_space(cfg.output)  # fail before the first video, not in the middle of a shard
    run_id = fail.new_run_id()
    # one run at a time (OutputConflictError otherwise), held until the pipeline ends when waiting
    with lock_output(cfg.output, run_id):
        check_rerun(cfg.output, cfg, retry_failed=cfg.retry_failed)  # same settings and input, or refused
        resume = load_resume_state(cfg.output, run_id=run_id, retry_failed=cfg.retry_failed)
        p = beam.Pipeline(options=options)
        build(p, cfg, resume)
        local = _runs_locally(options)
        # the local runners do the work inside p.run(): the display watches from before it (it reads
        # the output folder with os calls: a local one)
        with _local_progress(cfg, run_id, enabled=local and wait and is_local(cfg.output)):
            result = p.run()
            if not local:
                _print_job_url(result, options)
            if wait:
                result.wait_until_finish()
        if wait and not local:
            _print_metrics(result)
    return result


# runners that work in this machine's processes, as Beam names them (any case, "Runner" optional)
LOCAL_RUNNERS = {"direct", "switchingdirect", "bundlebaseddirect", "fnapi", "prism", "interactive"}


def _runs_locally(options) -> bool:
    runner = options.view_as(StandardOptions).runner
    name = (runner if isinstance(runner, str) else type(runner).__name__).rsplit(".", 1)[-1].lower()
    return name.removesuffix("runner") in LOCAL_RUNNERS


def _local_progress(cfg: RunConfig, run_id: str, *, enabled: bool):
    if not enabled:
        return contextlib.nullcontext()

    return Progress(
        _local(cfg.output),
        cfg.input,
        run_id=run_id,
        id_column=cfg.id_column,
        url_column=cfg.url_column,
        quiet=cfg.quiet,
    )


def _print_job_url(result, options) -> None:
    """Dataflow's console page of the job, as soon as it is submitted."""

    job_id = getattr(result, "job_id", None)
    job_id = job_id() if callable(job_id) else job_id
    if not job_id:
        return
    gcp = options.view_as(GoogleCloudOptions)
    print(
        f"Dataflow job {job_id}: https://console.cloud.google.com/dataflow/jobs/{gcp.region}/{job_id}"
        f"?project={gcp.project}",
        flush=True,
    )


def _print_metrics(result) -> None:
    """The job's Beam counters (clips cut, failed, ...) once it has finished."""
    try:
        counters = result.metrics().query()["counters"]
    except Exception as exc:  # noqa: BLE001 - a runner without metrics must not fail a finished run
        log.warning("no Beam metrics from the runner: %s", exc)
        return
    if counters:
        print("Beam metrics of the job:", flush=True)
    for counter in sorted(counters, key=lambda c: (c.key.metric.namespace, c.key.metric.name)):
        value = counter.committed if counter.committed is not None else counter.attempted
        print(f"  {counter.key.metric.namespace}.{counter.key.metric.name}: {value}", flush=True)

"""Resume inside the pipeline: which videos an earlier run over the output finished, decided per video
id by one join, never gathered in one process nor captured in the pipeline graph.

    todo, earlier, recorded = videos | Resume(out_dir, state)
        a CoGroupByKey of the input videos with what the index partitions, the staging manifests and
        the failure records say of each video id: the videos to do, the write.ShardEntry of each
        video staged by an earlier run and not yet in a shard, and what the records say per video
    new = failures | NotRecorded(recorded)     what a rerun finds again is not written again

Every read happens before any video leaves the join (a join waits for all its inputs), so this run's
own staging never mixes with what it reads.
"""

from __future__ import annotations

import logging

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput

from curate import files
from curate.output import failures as fail
from curate.output import index, write
from curate.output.resume import ResumeState, video_resume
from schemas import Failure

log = logging.getLogger(__name__)

STAGED, RECORDED = "staged", "recorded"


class VideosOfPartition(beam.DoFn):
    """An index partition's path -> (video_id, True) for each of its videos. A damaged partition is
    set aside (its shard is no longer committed, so its videos are redone) and recorded as a failure
    of stage "index" naming the file; the run goes on."""

    def __init__(self, out_dir: str, run_id: str):
        self._out_dir, self._run_id = out_dir, run_id
        self._damaged = beam.metrics.Metrics.counter("resume", "damaged_partitions")

    def process(self, path: str):
        try:
            ids = index.read_partition(path, columns=["video_id"]).column("video_id")
        except index.DamagedPartition as exc:
            set_aside_damaged(self._out_dir, path, exc, self._run_id)
            self._damaged.inc()
            return
        for video_id in ids.unique().to_pylist():
            yield video_id, True


def set_aside_damaged(out_dir: str, path: str, exc: Exception, run_id: str) -> None:
    moved = index.set_aside(out_dir, path)
    detail = f"{path} cannot be read ({exc}); the shard was moved to {moved} and its videos are redone"
    log.warning("damaged index partition: %s", detail)
    fail.record_failures(out_dir, [Failure("", fail.INDEX_STAGE, "damaged_partition", detail)], run_id)


class _LoadStaged(beam.DoFn):
    """A staging folder -> (video_id, write.ShardEntry). A damaged manifest is removed with its
    folder: the video is simply redone."""

    def __init__(self):
        self._damaged = beam.metrics.Metrics.counter("resume", "damaged_staging")

    def process(self, folder: str):
        try:
            video = write.load_staged_video(folder)
            missing = [c.key for c in video.clips if not files.exists(files.join(folder, f"{c.key}.mp4"))]
            if missing:  # a clip file vanished (the environment's doing): the video is cut again
                raise FileNotFoundError(f"clip files {missing} are gone")
        except (ValueError, KeyError, TypeError, OSError) as exc:
            log.warning("staged video %s is damaged (%s): it is redone", folder, exc)
            files.remove_tree(folder)
            self._damaged.inc()
            return
        yield video.video_id, write.shard_entry(video)


def _staging_folders(out_dir: str) -> list:
    staging = files.join(out_dir, write.STAGING)
    return [files.join(staging, n) for n in files.listdir(staging) if not n.startswith(".")]


def _failure_records(path: str):
    records, _ = fail.read_failure_file(path)
    for attempt, failure in records:
        yield failure.video_id, (attempt, failure)


class _Resolve(beam.DoFn):
    """(video_id, {video, shards, staged, failures}) -> the input rows to do, TaggedOutput(STAGED,
    entry) and TaggedOutput(RECORDED, (video_id, recorded keys))."""

    def __init__(self, out_dir: str, retry_failed: bool):
        self._out_dir, self._retry_failed = out_dir, retry_failed
        names = ("videos_in_shards", "staged_videos", "dropped_videos", "skipped_videos")
        self._counters = {name: beam.metrics.Metrics.counter("resume", name) for name in names}

    def process(self, element):
        video_id, found = element
        in_shards = bool(list(found["shards"]))
        records = list(found["failures"])
        resume = video_resume(in_shards, found["staged"], records, self._retry_failed)
        if resume.drop_staging:
            files.remove_tree(write.staging_dir(self._out_dir, video_id))
        rows = list(found["video"])
        if resume.skip:
            name = "videos_in_shards" if in_shards else "staged_videos" if resume.staged else "dropped_videos"
            self._counters[name].inc()
            self._counters["skipped_videos"].inc(len(rows))
        else:
            yield from rows
        if resume.staged is not None:
            yield TaggedOutput(STAGED, resume.staged)
        if records:
            yield TaggedOutput(RECORDED, (video_id, fail.recorded_keys(records)))


class Resume(beam.PTransform):
    """``todo, earlier, recorded = videos | Resume(out_dir, state)`` over VideoMeta records (see the
    module docstring)."""

    def __init__(self, out_dir: str, state: ResumeState):
        super().__init__()
        self._out_dir, self._state = out_dir, state

    def expand(self, videos):
        out_dir = self._out_dir
        root = videos.pipeline | "Output" >> beam.Create([out_dir])
        in_shards = (
            root
            | "ListPartitions" >> beam.FlatMap(index.partition_paths)
            | "SpreadPartitions" >> beam.Reshuffle()
            | "VideosInShards" >> beam.ParDo(VideosOfPartition(out_dir, self._state.run_id))
        )
        staged = (
            root
            | "ListStaging" >> beam.FlatMap(_staging_folders)
            | "SpreadStaging" >> beam.Reshuffle()
            | "LoadStaged" >> beam.ParDo(_LoadStaged())
        )
        recorded = (
            root
            | "ListFailureFiles" >> beam.FlatMap(fail.failure_files)
            | "SpreadFailureFiles" >> beam.Reshuffle()
            | "ReadFailures" >> beam.FlatMap(_failure_records)
        )
        keyed = videos | "KeyById" >> beam.Map(lambda meta: (meta.video_id, meta))
        resolved = (
            {"video": keyed, "shards": in_shards, "staged": staged, "failures": recorded}
            | "ByVideo" >> beam.CoGroupByKey()
            | "Resolve"
            >> beam.ParDo(_Resolve(out_dir, self._state.retry_failed)).with_outputs(STAGED, RECORDED, main="todo")
        )
        return resolved.todo, resolved[STAGED], resolved[RECORDED]


class NotRecorded(beam.PTransform):
    """``new = failures | NotRecorded(recorded)``: the failures that the records of earlier runs do not
    already say (failures.is_recorded), so that a rerun that reads the same bad rows, or probes and
    filters the same videos again, does not append another copy of them."""

    def __init__(self, recorded):
        super().__init__()
        self._recorded = recorded

    def expand(self, failures):
        def new_ones(element):
            _, found = element
            keys = next(iter(found["recorded"]), None)
            return [f for f in found["failure"] if keys is None or not fail.is_recorded(f, keys)]

        keyed = failures | "KeyById" >> beam.Map(lambda f: (f.video_id, f))
        return (
            {"failure": keyed, "recorded": self._recorded}
            | "JoinRecorded" >> beam.CoGroupByKey()
            | "NewOnly" >> beam.FlatMap(new_ones)
        )

"""The run's summary files, rebuilt from the output directory once every shard is written and every
failure recorded: clips.parquet (optional), failures.jsonl, stats.json, report.md.

    p | "FinalizeOutputs" >> Finalize(out_dir, after=[shards, recorded], videos_in=num_read, run_id=...)

Nothing is gathered in one process: each index partition is read on its own into mergeable totals
(combined with CombineGlobally) and the ids of its videos; the failure records are grouped per video
id with those ids (CoGroupByKey) to decide which failures stand; the standing failures are written in
sorted parts and merged by streaming; clips.parquet is streamed one partition at a time. What meets
in the last step is the merged totals, the failure counts and one number per side input.
``rebuild(out_dir)`` runs the same in-process (curate.beam.runner.LOCAL_RUNNER) over a finished output
(``curate stats``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import zlib

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.pvalue import AsSingleton, TaggedOutput

from curate.beam.resume import set_aside_damaged
from curate.beam.runner import LOCAL_RUNNER
from curate.files import _local, exists, is_local, join, open_read, read_bytes, remove_file, remove_tree
from curate.output import failures as fail
from curate.output import index, summary, write
from curate.output.lock import check_owner
from curate.output.settings import made_with

log = logging.getLogger(__name__)

VIDEOS, OUTCOME = "videos", "outcome"
FAILURES_PER_PART = 50_000  # failures.jsonl is written in sorted parts of about this many lines

STATE, FILE = "state", "file"  # where the failures come from: the run's records, or failures.jsonl


class _ReadPartition(beam.DoFn):
    """A partition's path -> its totals, and (video_id, True) per video (TaggedOutput VIDEOS)."""

    def __init__(self, out_dir: str, run_id: str):
        self._out_dir, self._run_id = out_dir, run_id

    def process(self, path: str):
        try:
            table = index.read_partition(path, columns=index.STAT_COLUMNS)
        except index.DamagedPartition as exc:  # damaged since the run started: set aside, reported
            set_aside_damaged(self._out_dir, path, exc, self._run_id)
            return
        yield index.partition_totals(table)
        for video_id in table.column("video_id").unique().to_pylist():
            yield TaggedOutput(VIDEOS, (video_id, True))


class _Merge(beam.CombineFn):
    """Merges mergeable values: totals (curate.output.index) or failure outcomes (failures)."""

    def __init__(self, empty, merge):
        self._empty, self._merge = empty, merge

    def create_accumulator(self):
        return self._empty()

    def add_input(self, acc, value):
        return self._merge(acc, value)

    def merge_accumulators(self, accs):
        merged = self._empty()
        for acc in accs:
            merged = self._merge(merged, acc)
        return merged

    def extract_output(self, acc):
        return acc


def _recorded(path: str):
    records, _ = fail.read_failure_file(path)
    for attempt, failure in records:
        yield failure.video_id, (attempt, failure)


def _published(out_dir: str):
    """The lines of an existing failures.jsonl, streamed, as standing records (attempt "")."""

    path = join(out_dir, summary.FAILURES_FILE)
    if not exists(path):
        return
    damaged = beam.metrics.Metrics.counter("finalize", "damaged_failure_lines")
    with open_read(path) as f:
        for number, line in enumerate(f, 1):
            try:
                failure = fail.parse_failure_line(line, f"{path} line {number}")
            except ValueError as exc:
                log.warning("%s: skipped", exc)
                damaged.inc()
                continue
            if failure is not None:
                yield failure.video_id, ("", failure)


class _StandingOfVideo(beam.DoFn):
    """(video_id, {failures, clips}) -> its standing failures, and its counts (TaggedOutput OUTCOME).
    From failures.jsonl (already standing) the records are taken as they are."""

    def __init__(self, decide: bool):
        self._decide = decide

    def process(self, element):
        _, found = element
        has_clips = bool(list(found["clips"]))
        records = list(found["failures"])
        if not records:
            return
        if self._decide:
            standing = fail.standing_of_video(records, has_clips)
        else:
            standing = sorted((f for _, f in records), key=fail.sort_key)
        yield from standing
        yield TaggedOutput(OUTCOME, fail.video_outcome(standing, has_clips))


def _part_of(failure, total: int) -> int:
    parts = max(1, math.ceil(total / FAILURES_PER_PART))
    return zlib.crc32(failure.video_id.encode("utf-8", "surrogatepass")) % parts


def _write_summary(out_dir, totals, outcome, videos_in, *_barriers, run_id, source, index_file):
    if run_id:
        check_owner(out_dir, run_id)  # no other run claimed out_dir meanwhile
    if source == STATE:
        summary.merge_failure_parts(out_dir)
    if index_file:
        index.write_index_file(out_dir)
    else:  # a copy from an earlier run would be stale
        remove_file(join(out_dir, index.INDEX_FILE))
    if videos_in is None:
        videos_in = summary.previous_videos_in(out_dir)
    if videos_in is None:
        videos_in = totals["clips"]["all"]["videos"]

    stats = dict(summary.build_stats(totals, outcome, videos_in), made_with=made_with(out_dir))
    summary.write_stats(out_dir, stats)
    # every staged video is in a shard by now; what is left is work folders of failed attempts
    remove_tree(join(out_dir, write.STAGING))
    if is_local(out_dir):  # readers glob DIR/shards/*.tar: let it exist even when no clip was made
        os.makedirs(join(_local(out_dir), index.SHARDS), exist_ok=True)
    return stats


class Finalize(beam.PTransform):
    """``p | Finalize(out_dir, after=[...], videos_in=...)``: the summary files (module docstring).

    after: PCollections that must be complete first (the shards written, the failures recorded);
    videos_in: the rows read, a PCollection of one number, a number, or None for the count of the
    existing stats.json; source: STATE (decide the standing failures from the records and write
    failures.jsonl) or FILE (take failures.jsonl as it stands); index_file: write clips.parquet."""

    def __init__(
        self, out_dir: str, *, after=(), videos_in=None, run_id: str = "", source: str = STATE, index_file: bool = True
    ):
        super().__init__()
        self._out_dir, self._after, self._videos_in = out_dir, list(after), videos_in
        self._run_id, self._source, self._index_file = run_id, source, index_file

    def expand(self, pbegin):
        out_dir = self._out_dir
        barriers = [
            AsSingleton(pcoll | f"Done{i}" >> beam.combiners.Count.Globally()) for i, pcoll in enumerate(self._after)
        ]
        root = pbegin | "Output" >> beam.Create([out_dir]) | "AfterWriting" >> beam.Map(lambda d, *_: d, *barriers)
        read = (
            root
            | "ListPartitions" >> beam.FlatMap(index.partition_paths)
            | "SpreadPartitions" >> beam.Reshuffle()
            | "ReadPartitions" >> beam.ParDo(_ReadPartition(out_dir, self._run_id)).with_outputs(VIDEOS, main="totals")
        )
        merge_totals = _Merge(index.empty_totals, index.merge_totals)
        totals = read.totals | "MergeTotals" >> beam.CombineGlobally(merge_totals)
        partitions_read = AsSingleton(read.totals | "PartitionsRead" >> beam.combiners.Count.Globally())
        if self._source == STATE:  # after the partitions: a damaged one is recorded as a failure
            records = (
                root
                | "AfterPartitions" >> beam.Map(lambda d, _: d, partitions_read)
                | "ListFailureFiles" >> beam.FlatMap(fail.failure_files)
                | "SpreadFailureFiles" >> beam.Reshuffle()
                | "ReadFailures" >> beam.FlatMap(_recorded)
            )
        else:
            records = root | "ReadFailuresFile" >> beam.FlatMap(_published)
        standing = (
            {"failures": records, "clips": read[VIDEOS]}
            | "ByVideo" >> beam.CoGroupByKey()
            | "Standing" >> beam.ParDo(_StandingOfVideo(self._source == STATE)).with_outputs(OUTCOME, main="failures")
        )
        merge_outcomes = _Merge(fail.empty_outcome, fail.add_outcomes)
        outcome = standing[OUTCOME] | "MergeOutcomes" >> beam.CombineGlobally(merge_outcomes)
        summary_inputs = [AsSingleton(totals), AsSingleton(outcome), self._videos_in_view(pbegin)]
        if self._source == STATE:
            count = AsSingleton(standing.failures | "CountStanding" >> beam.combiners.Count.Globally())
            parts = (
                standing.failures
                | "ToParts" >> beam.Map(lambda f, n: (_part_of(f, n), f), count)
                | "ByPart" >> beam.GroupByKey()
                | "WritePart"
                >> beam.MapTuple(lambda part, fs: summary.write_failure_part(out_dir, f"part-{part:05d}", fs))
            )
            summary_inputs.append(AsSingleton(parts | "PartsWritten" >> beam.combiners.Count.Globally()))
        return root | "WriteSummary" >> beam.Map(
            _write_summary, *summary_inputs, run_id=self._run_id, source=self._source, index_file=self._index_file
        )

    def _videos_in_view(self, pbegin):
        if isinstance(self._videos_in, beam.pvalue.PCollection):
            return AsSingleton(self._videos_in)
        return AsSingleton(pbegin | "VideosIn" >> beam.Create([self._videos_in]))


def rebuild(out_dir: str, *, videos_in=None, run_id: str = "", source: str = STATE, index_file: bool = True) -> dict:
    """Run Finalize alone, in-process, over `out_dir`; returns the stats."""

    if source == STATE:
        remove_tree(join(out_dir, summary.STANDING))  # parts of a finalize that was killed

    with beam.Pipeline(options=PipelineOptions([f"--runner={LOCAL_RUNNER}"])) as p:
        _ = p | "FinalizeOutputs" >> Finalize(
            out_dir, videos_in=videos_in, run_id=run_id, source=source, index_file=index_file
        )
    return json.loads(read_bytes(join(out_dir, summary.STATS_FILE)))

"""The Beam stages that choose and fetch the videos: read the sources, probe, filter (with the
per-category hour cap), download. The per-element work is in curate.sources and curate.media."""

from __future__ import annotations

import functools
from typing import Optional

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput

from curate.beam.stages import FAILURES, ApplyStage
from curate.media.download import DownloadConfig, Downloader
from curate.media.filter import FilterConfig, cap_failure, category_cutoff, keep_or_raise, within_cap
from curate.media.probe import Prober
from curate.sources import check_source, duplicate_of, local_path, source_records
from schemas import VideoMeta


def _numbered_records(path: str, id_column, url_column):
    records = source_records(path, id_column=id_column, url_column=url_column)
    for number, (where, record) in enumerate(records):
        if isinstance(record, VideoMeta):
            yield record.video_id, (number, where, record)
        else:
            yield TaggedOutput(FAILURES, record)


def _first_of_each_id(element):
    """The first row of a video id (in source order) is the video; each repeat is a failure."""
    _, rows = element
    (_, first_where, meta), *repeats = sorted(rows, key=lambda row: row[0])
    yield meta
    for _, where, repeat in repeats:
        yield TaggedOutput(FAILURES, duplicate_of(repeat, where, first_where))


class ReadSources(beam.PTransform):
    """``videos, failures = pipeline | ReadSources(path)``: VideoMeta and Failure PCollections.

    The source is streamed by one worker; repeated ids are found by grouping the rows by video id
    (no worker holds every id), so the stages after it run in parallel.
    """

    def __init__(self, path: str, *, id_column: Optional[str] = None, url_column: Optional[str] = None):
        super().__init__()
        self._path, self._id_column, self._url_column = path, id_column, url_column

    def expand(self, pbegin):
        if local_path(self._path) is not None:
            # fail while the pipeline is built, not on a worker: a missing file, an unknown format,
            # a named column that is not there (reading the first record is enough to know)
            check_source(self._path, id_column=self._id_column, url_column=self._url_column)
        rows = (
            pbegin
            | "Source" >> beam.Create([self._path])
            | "Read"
            >> beam.FlatMap(_numbered_records, self._id_column, self._url_column).with_outputs(FAILURES, main="videos")
        )
        unique = (
            rows.videos
            | "ById" >> beam.GroupByKey()
            | "FirstOfEachId" >> beam.FlatMap(_first_of_each_id).with_outputs(FAILURES, main="videos")
        )
        failures = (rows[FAILURES], unique[FAILURES]) | "ReadFailures" >> beam.Flatten()
        return unique.videos, failures


def _counting_notes(stage: str, worker, meta: VideoMeta) -> VideoMeta:
    """``worker(meta)``, counting what it noted on the way (``worker.notes``) as Beam counters of the
    stage, e.g. probe/height_disagrees."""
    try:
        return worker(meta)
    finally:
        for name, n in worker.notes.items():
            beam.metrics.Metrics.counter(stage, name).inc(n)
        worker.notes.clear()


def _probe(meta: VideoMeta, prober: Prober) -> VideoMeta:
    return _counting_notes("probe", prober, meta)


class ProbeVideos(beam.PTransform):
    """``probed, failures = videos | ProbeVideos(cfg, work_dir)``: one Prober per worker; failures
    have stage "probe"."""

    def __init__(self, cfg: DownloadConfig, work_dir: str):
        super().__init__()
        self._cfg, self._work_dir = cfg, work_dir

    def expand(self, videos):
        setup = functools.partial(Prober, self._cfg, self._work_dir)
        return videos | ApplyStage("probe", _probe, setup=setup)


class FilterVideos(beam.PTransform):
    """``kept, failures = probed | FilterVideos(cfg)``: failures have stage "filter" and the reason;
    the counter ``filter/failed:<reason>`` counts each reason. Applies the category cap too when
    cfg.category_hour_cap is set."""

    def __init__(self, cfg: FilterConfig):
        super().__init__()
        self._cfg = cfg

    def expand(self, videos):
        kept, failures = videos | ApplyStage("filter", functools.partial(keep_or_raise, cfg=self._cfg))
        if self._cfg.category_hour_cap is None:
            return kept, failures
        kept, capped = kept | CapCategoryHours(self._cfg.category_hour_cap)
        return kept, (failures, capped) | "AllFilterFailures" >> beam.Flatten()


class _SplitByCap(beam.DoFn):
    def __init__(self, cap_hours: float):
        self._cap_hours = cap_hours
        self._dropped = beam.metrics.Metrics.counter("filter", "failed:category_cap")

    def process(self, meta: VideoMeta, cutoffs: dict):
        if within_cap(meta, cutoffs):
            yield meta
        else:
            self._dropped.inc()
            yield beam.pvalue.TaggedOutput("capped", cap_failure(meta, self._cap_hours))


class CapCategoryHours(beam.PTransform):
    """``kept, failures = videos | CapCategoryHours(cap_hours)``.

    Only (category, id, duration) triples are grouped, one group per category; the cutoff per
    category goes back to the videos as a small side input, so the records themselves are never
    gathered on one worker.
    """

    def __init__(self, cap_hours: float):
        super().__init__()
        if cap_hours <= 0:
            raise ValueError(f"category hour cap must be > 0, got {cap_hours}")
        self._cap_hours = cap_hours

    def expand(self, videos):
        cap = self._cap_hours
        cutoffs = (
            videos
            | "KeyByCategory" >> beam.Map(lambda m: (m.category, (m.video_id, m.duration)))
            | "GroupByCategory" >> beam.GroupByKey()
            | "Cutoff" >> beam.MapTuple(lambda category, entries: (category, category_cutoff(entries, cap)))
        )
        out = videos | "SplitByCap" >> beam.ParDo(_SplitByCap(cap), beam.pvalue.AsDict(cutoffs)).with_outputs(
            "capped", main="kept"
        )
        return out.kept, out.capped


def _download(meta: VideoMeta, downloader: Downloader) -> VideoMeta:
    return _counting_notes("download", downloader, meta)


class DownloadVideos(beam.PTransform):
    """``videos, failures = probed | DownloadVideos(cfg)``: one Downloader (a YoutubeDL) per worker;
    failures are schemas.Failure records with stage "download"."""

    def __init__(self, cfg: DownloadConfig):
        super().__init__()
        self._cfg = cfg

    def expand(self, videos):
        return videos | ApplyStage("download", _download, setup=functools.partial(Downloader, self._cfg))

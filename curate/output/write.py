"""Write a run's output directory: staged clips -> WebDataset shards + Parquet sidecars, then
clips.parquet, failures.jsonl, stats.json (and report.md, see curate.output.report).

Layout (DESIGN.md contract, plus the hidden state that resume relies on):
    DIR/shards/NNNNN.tar, NNNNN.parquet   committed shards; the sidecar .parquet is renamed into place
                                          last, so a shard counts only when its sidecar exists
    DIR/clips.parquet, failures.jsonl, stats.json, report.md, plots/*.png
    DIR/.staging/<video>/                 a video's cut clips + manifest.json (written last) waiting
                                          for a shard; deleted once the shard is committed
    DIR/.state/failures/*.jsonl           failures as they happen (terminal ones are not redone)

The directory may be local or on any filesystem Beam knows (gs://, s3://): everything goes through
curate.files, and every file is written under a temporary name and renamed into place.

Shards: videos are packed in order of video id into shards bounded by samples and bytes; a video is
never split across shards (so resume is per video), and a video larger than a shard gets its own.
The same staged input gives the same shard names and byte-identical tars.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, NamedTuple, Sequence

from curate.files import (
    _local,
    exists,
    is_local,
    join,
    listdir,
    open_read,
    put_file_atomic,
    read_bytes,
    remove_file,
    remove_tree,
    write_bytes_atomic,
)
from schemas import Clip, Failure, clips_to_table, safe_id
from schemas.arrow import clip_to_row, row_to_clip

SHARDS = "shards"
STAGING = ".staging"
STATE_FAILURES = os.path.join(".state", "failures")
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ShardConfig:
    max_samples: int = 1000  # clips per shard (a video's clips are never split, so it may be exceeded)
    max_bytes: int = 1_000_000_000  # bytes of clip files per shard (same caveat)

    def __post_init__(self):
        if self.max_samples < 1 or self.max_bytes < 1:
            raise ValueError("shard limits must be >= 1")


class StagedVideo(NamedTuple):
    """A video whose clips are cut and waiting in DIR/.staging/<video>/ for a shard."""

    video_id: str
    clips: tuple  # tuple[Clip, ...], ordered by key
    num_bytes: tuple  # size of each clip's .mp4
    failures: tuple = ()  # tuple[Failure, ...]: clips of this video that are not samples


def replace_clips(staged: StagedVideo, clips: Sequence[Clip], failures: Sequence[Failure] = ()) -> StagedVideo:
    """The staged video with its clips replaced by `clips` (a subset of its clips by key, e.g. with
    annotations filled in; their staged sizes follow them) and `failures` added."""
    size_of = dict(zip((c.key for c in staged.clips), staged.num_bytes))
    unknown = [c.key for c in clips if c.key not in size_of]
    if unknown:
        raise ValueError(f"video {staged.video_id!r}: clips {unknown} were never staged")
    return staged._replace(clips=tuple(clips), num_bytes=tuple(size_of[c.key] for c in clips),
                           failures=staged.failures + tuple(failures))


def local_work_dir(out_dir: str, prefix: str) -> str:
    """A fresh local folder for files on their way into `out_dir` (inside it when it is local, so
    that moving them in is a rename)."""
    if is_local(out_dir):
        base = join(_local(out_dir), STAGING)
        os.makedirs(base, exist_ok=True)
        return tempfile.mkdtemp(prefix=f".{prefix}-", dir=base)
    return tempfile.mkdtemp(prefix=f"curate-{prefix}-")


# ---------------------------------------------------------------------------------------------
# staging: one folder per video, committed by its manifest


def staging_dir(out_dir: str, video_id: str) -> str:
    # safe_id: ids come from the source and may hold "../" or shell metacharacters
    return join(out_dir, STAGING, safe_id(video_id))


def commit_staged_video(out_dir: str, staged: StagedVideo, clip_files: Sequence[str]) -> StagedVideo:
    """Move a video's cut clip files (local paths, in the order of staged.clips) into its staging
    folder and write the manifest last. Returns `staged`."""
    stage_clip_files(out_dir, staged, clip_files)
    return write_manifest(out_dir, staged)


def stage_clip_files(out_dir: str, staged: StagedVideo, clip_files: Sequence[str]) -> StagedVideo:
    """Move a video's cut clip files into its staging folder WITHOUT committing it: until
    write_manifest, resume treats the folder as unfinished and redoes the video. Returns `staged`."""
    folder = staging_dir(out_dir, staged.video_id)
    remove_file(join(folder, MANIFEST))  # an older, interrupted attempt no longer counts
    for clip, path in zip(staged.clips, clip_files):
        put_file_atomic(path, join(folder, f"{clip.key}.mp4"))
    return staged


def write_manifest(out_dir: str, staged: StagedVideo) -> StagedVideo:
    """Commit a staged video: its manifest (clip metadata as it goes into the shard) is written last.
    staged.clips may be a subset of the staged files (the others are not samples). Returns `staged`."""
    folder = staging_dir(out_dir, staged.video_id)
    manifest = {
        "video_id": staged.video_id,
        "clips": [clip_to_row(c) for c in staged.clips],
        "num_bytes": list(staged.num_bytes),
        "failures": [f._asdict() for f in staged.failures],
    }
    write_bytes_atomic(join(folder, MANIFEST), json.dumps(manifest).encode())
    return staged


def load_staged_video(folder: str) -> StagedVideo:
    manifest = json.loads(read_bytes(join(folder, MANIFEST)))
    return StagedVideo(
        manifest["video_id"],
        tuple(row_to_clip(r) for r in manifest["clips"]),
        tuple(manifest["num_bytes"]),
        tuple(Failure(**f) for f in manifest["failures"]),
    )


# ---------------------------------------------------------------------------------------------
# shards


def shard_name(index: int) -> str:
    return f"{index:05d}"


def pack_shards(videos: Iterable[StagedVideo], config: ShardConfig, first_index: int = 0) -> list:
    """[(shard name, tuple[StagedVideo])]: videos with clips, in order of video id, packed greedily
    under both limits; a video is never split."""
    shards, current, samples, size = [], [], 0, 0
    for video in sorted((v for v in videos if v.clips), key=lambda v: v.video_id):
        n, b = len(video.clips), sum(video.num_bytes)
        if current and (samples + n > config.max_samples or size + b > config.max_bytes):
            shards.append(current)
            current, samples, size = [], 0, 0
        current.append(video)
        samples, size = samples + n, size + b
    if current:
        shards.append(current)
    return [(shard_name(first_index + i), tuple(videos)) for i, videos in enumerate(shards)]


def _tar_info(name: str, size: int) -> tarfile.TarInfo:
    # Fixed owner, mode and time: the same samples give byte-identical tars.
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 0, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_shard(out_dir: str, name: str, videos: Sequence[StagedVideo]) -> str:
    """Write DIR/shards/<name>.tar and its sidecar from staged videos, commit it (sidecar last), then
    delete the videos' staging folders. Returns the shard name."""
    import pyarrow.parquet as pq

    shard = f"{name}.tar"
    videos = sorted(videos, key=lambda v: v.video_id)
    clips = [c._replace(shard=shard) for v in videos for c in v.clips]
    sizes = [n for v in videos for n in v.num_bytes]
    work = local_work_dir(out_dir, f"shard-{name}")
    tar_path, sidecar_path = os.path.join(work, shard), os.path.join(work, f"{name}.parquet")
    with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
        for clip, size in zip(clips, sizes):
            with open_read(join(staging_dir(out_dir, clip.video_id), f"{clip.key}.mp4")) as f:
                tar.addfile(_tar_info(f"{clip.key}.mp4", size), f)  # streamed: clips can be large
            meta = json.dumps(clip_to_row(clip), ensure_ascii=False, sort_keys=True).encode()
            tar.addfile(_tar_info(f"{clip.key}.json", len(meta)), io.BytesIO(meta))
            text = clip.subtitle.encode()
            tar.addfile(_tar_info(f"{clip.key}.txt", len(text)), io.BytesIO(text))
    pq.write_table(clips_to_table(clips), sidecar_path)
    put_file_atomic(tar_path, join(out_dir, SHARDS, shard))
    clip_failures = [f for v in videos for f in v.failures]
    if clip_failures:
        write_bytes_atomic(
            join(out_dir, STATE_FAILURES, f"shard-{name}.jsonl"), failures_jsonl(clip_failures)
        )
    put_file_atomic(sidecar_path, join(out_dir, SHARDS, f"{name}.parquet"))  # the commit
    os.rmdir(work)
    for video in videos:
        remove_tree(staging_dir(out_dir, video.video_id))
    return name


def committed_shards(out_dir: str) -> list:
    """Names of the committed shards (both the tar and its sidecar exist), sorted."""
    names = set(listdir(join(out_dir, SHARDS)))
    return sorted(
        n[: -len(".parquet")]
        for n in names
        if n.endswith(".parquet") and not n.startswith(".") and n[: -len(".parquet")] + ".tar" in names
    )


def read_sidecar(out_dir: str, name: str):
    import pyarrow.parquet as pq

    with open_read(join(out_dir, SHARDS, f"{name}.parquet")) as f:
        return pq.read_table(f)


# ---------------------------------------------------------------------------------------------
# failures


def failures_jsonl(failures: Iterable[Failure]) -> bytes:
    return "".join(json.dumps(f._asdict(), ensure_ascii=False) + "\n" for f in failures).encode()


def new_run_id() -> str:
    """An id for one run over an output directory; later runs get larger ids (ordered as strings)."""
    return f"{time.time_ns():020d}"


def record_failures(out_dir: str, failures: Sequence[Failure], run_id: str = "") -> None:
    """Persist failures right away (one new file), so that a killed run does not redo terminal ones.
    run_id (new_run_id) orders the attempts at a video: the latest one says why it failed."""
    if failures:
        name = f"run-{run_id or '0'}-{uuid.uuid4().hex[:12]}.jsonl"
        write_bytes_atomic(join(out_dir, STATE_FAILURES, name), failures_jsonl(failures))


SHARD_ATTEMPT = "shard"  # the attempt of the failures committed with a shard (its videos' clips)


def _failure_attempts(out_dir: str) -> list:
    """(attempt, Failure) for every recorded failure: attempt is the run id of its file ("" for files
    of runs before run ids), or SHARD_ATTEMPT for the clip failures committed with a shard."""
    found = []
    folder = join(out_dir, STATE_FAILURES)
    for name in listdir(folder):
        if not name.endswith(".jsonl") or name.startswith("."):
            continue
        parts = name[: -len(".jsonl")].split("-")
        if parts[0] == "shard":
            attempt = SHARD_ATTEMPT
        else:
            attempt = parts[1] if len(parts) == 3 and parts[1].isdigit() else ""
        for line in read_bytes(join(folder, name)).decode().splitlines():
            if line.strip():
                found.append((attempt, Failure(**json.loads(line))))
    return found


def standing_failures(out_dir: str, videos_with_clips: set) -> list:
    """The failures that stand after every run so far, one account per input row, in a stable order:
    - a bad or repeated manifest row (stage "read"): one line per row, however often it was read;
    - a video with clips: only the clip failures committed with its shard (the attempt whose clips
      were written; an earlier attempt's failures are void);
    - any other video: what its latest attempt recorded (the latest run that recorded anything
      for it).
    Copies of one failure (a retried bundle, a rerun; the detail may differ) are one."""
    rows, attempts = set(), {}
    for attempt, f in sorted(_failure_attempts(out_dir)):
        if f.stage == "read":  # the detail names the row
            rows.add(f)
        elif f.video_id not in videos_with_clips or attempt == SHARD_ATTEMPT:
            same = attempts.setdefault(f.video_id, {}).setdefault(attempt, {})
            same.setdefault((f.stage, f.key, f.reason), f)
    standing = list(rows)
    for by_attempt in attempts.values():
        standing += by_attempt[max(by_attempt)].values()
    return sorted(standing, key=lambda f: (f.video_id, f.key, f.stage, f.reason, f.detail))


def recorded_failures(out_dir: str) -> list:
    """The standing failures as if no video had clips (resume skips the videos in shards itself)."""
    return standing_failures(out_dir, set())


# ---------------------------------------------------------------------------------------------
# the run's summary files, rebuilt from the committed shards and the recorded failures


def collect_clips(out_dir: str):
    """All committed clips as one CLIP_SCHEMA table, ordered by shard and key."""
    import pyarrow as pa

    from schemas import CLIP_SCHEMA

    tables = [read_sidecar(out_dir, name) for name in committed_shards(out_dir)]
    if not tables:
        return CLIP_SCHEMA.empty_table()
    table = pa.concat_tables(_with_all_columns(t).select(CLIP_SCHEMA.names).cast(CLIP_SCHEMA) for t in tables)
    return table.sort_by([("shard", "ascending"), ("key", "ascending")])


def _with_all_columns(table):
    """A sidecar written before a column joined CLIP_SCHEMA (e.g. transcript_repairs, schema 1.1) gets
    that column as nulls, so a resumed run over an older output still collects every shard."""
    import pyarrow as pa

    from schemas import CLIP_SCHEMA

    for column in CLIP_SCHEMA:
        if column.name not in table.column_names:
            table = table.append_column(column.name, pa.nulls(len(table), column.type))
    return table


def video_counts(videos_in: int, videos_with_clips: set, failures: Sequence[Failure]) -> dict:
    """Counts that add up: videos_in (rows read) = videos_kept + videos_failed. A failed row is a bad
    or repeated manifest row (each counts) or a video without clips (once, under its video-level
    reason, or "<stage>:no_clip_written" when only its clips failed)."""
    reason_of: dict = {}
    failed_rows = Counter()
    for f in failures:
        if f.stage == "read":
            failed_rows[f"read:{f.reason}"] += 1
        elif f.video_id not in videos_with_clips and (not f.key or f.video_id not in reason_of):
            reason_of[f.video_id] = f"{f.stage}:{f.reason}" if not f.key else f"{f.stage}:no_clip_written"
    failed_rows.update(reason_of.values())
    clip_failures = Counter(f"{f.stage}:{f.reason}" for f in failures if f.key)
    return {
        "videos_in": videos_in,
        "videos_kept": len(videos_with_clips),
        "videos_failed": sum(failed_rows.values()),
        "videos_failed_by_reason": dict(sorted(failed_rows.items())),
        "clips_failed_by_reason": dict(sorted(clip_failures.items())),
    }


def build_stats(table, failures: Sequence[Failure], videos_in: int) -> dict:
    from curate.text import clip_statistics

    from schemas import table_to_clips

    clips = table_to_clips(table)
    videos_with_clips = set(table.column("video_id").to_pylist())
    stats = {
        "counts": video_counts(videos_in, videos_with_clips, failures),
        "num_clips": len(clips),
        "num_shards": len(set(table.column("shard").to_pylist())),
        "clips": clip_statistics(clips),
        "categories": _category_hours(clips),
    }
    return stats


def _category_hours(clips: Sequence[Clip]) -> dict:
    """Hours of distinct source video per category (clips of one video at several scales overlap,
    so a video counts once, over its longest scale's coverage)."""
    per_video = {}
    for clip in clips:
        per_video.setdefault((clip.video_id, clip.category or "unknown"), Counter())[clip.scale] += (
            clip.duration
        )
    hours = Counter()
    for (_, category), by_scale in per_video.items():
        hours[category] += max(by_scale.values()) / 3600
    return {k: round(v, 6) for k, v in sorted(hours.items(), key=lambda kv: (-kv[1], kv[0]))}


def finalize_outputs(out_dir: str, videos_in: int | None = None, run_id: str | None = None) -> dict:
    """Rebuild clips.parquet and failures.jsonl from every committed shard sidecar and every recorded
    failure, then stats.json and report.md (write_stats). Returns the stats. With run_id: first check
    that no other run claimed out_dir meanwhile (curate.output.lock)."""
    import pyarrow.parquet as pq

    if run_id:
        from curate.output.lock import check_owner

        check_owner(out_dir, run_id)

    table = collect_clips(out_dir)
    failures = standing_failures(out_dir, set(table.column("video_id").to_pylist()))
    sink = io.BytesIO()
    pq.write_table(table, sink)
    write_bytes_atomic(join(out_dir, "clips.parquet"), sink.getvalue())
    write_bytes_atomic(join(out_dir, "failures.jsonl"), failures_jsonl(failures))
    # every staged video is in a shard by now; what is left is work folders of failed attempts
    remove_tree(join(out_dir, STAGING))
    if is_local(out_dir):  # readers glob DIR/shards/*.tar: let it exist even when no clip was made
        os.makedirs(join(_local(out_dir), SHARDS), exist_ok=True)
    return write_stats(out_dir, videos_in)


def read_failures_jsonl(path: str) -> list:
    return [Failure(**json.loads(line)) for line in read_bytes(path).decode().splitlines() if line.strip()]


def write_stats(out_dir: str, videos_in: int | None = None) -> dict:
    """stats.json and report.md from the contract files clips.parquet and failures.jsonl.
    videos_in None keeps the count of the existing stats.json. Returns the stats."""
    import pyarrow.parquet as pq

    from curate.output.report import write_report

    with open_read(join(out_dir, "clips.parquet")) as f:
        table = pq.read_table(f)
    failures_path = join(out_dir, "failures.jsonl")
    failures = read_failures_jsonl(failures_path) if exists(failures_path) else []
    if videos_in is None:
        stats_path = join(out_dir, "stats.json")
        previous = json.loads(read_bytes(stats_path)) if exists(stats_path) else {}
        videos_in = previous.get("counts", {}).get(
            "videos_in", len(set(table.column("video_id").to_pylist()))
        )
    stats = build_stats(table, failures, videos_in)
    write_bytes_atomic(join(out_dir, "stats.json"), json.dumps(stats, indent=2, sort_keys=True).encode())
    write_report(out_dir, stats, table)
    return stats

"""Write a run's output directory: staged clips -> WebDataset shards + Parquet sidecars, then
clips.parquet, failures.jsonl, stats.json (and report.md, see curate.output.report).

Layout (DESIGN.md contract, plus the hidden state that resume relies on):
    DIR/shards/NNNNN.tar, NNNNN.parquet   committed shards; the sidecar .parquet is renamed into place
                                          last, so a shard counts only when its sidecar exists
    DIR/clips.parquet, failures.jsonl, stats.json, report.md, plots/*.png
    DIR/.staging/<video>/                 a video's cut clips + manifest.json (written last) waiting
                                          for a shard; deleted once the shard is committed
    DIR/.state/failures/*.jsonl           failures as they happen (terminal ones are not redone,
                                          see curate.output.failures)

The directory may be local or on any filesystem Beam knows (gs://, s3://): everything goes through
curate.files, and every file is written under a temporary name and renamed into place.

Shards: videos are packed in order of video id into shards bounded by samples and bytes; a video is
never split across shards (so resume is per video), and a video larger than a shard gets its own.
Only small ShardEntry records (id, clips, bytes) are packed; a shard's writer reads its videos'
manifests from staging. The same staged input gives the same shard names and byte-identical tars.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
from dataclasses import dataclass
from typing import Iterable, NamedTuple, Sequence

import pyarrow.parquet as pq

from curate.files import (
    _local,
    ensure_free_space,
    is_local,
    join,
    open_read,
    put_file_atomic,
    read_bytes,
    remove_file,
    remove_tree,
    write_bytes_atomic,
)
from curate.output.failures import STATE_FAILURES, failures_jsonl
from curate.output.index import SHARDS
from schemas import Clip, Failure, clips_to_table, safe_id
from schemas.arrow import clip_to_row, row_to_clip

STAGING = ".staging"
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


class ShardEntry(NamedTuple):
    """What packing needs of a staged video: the shard writer reads the rest from its manifest."""

    video_id: str
    num_clips: int
    num_bytes: int


def shard_entry(video) -> ShardEntry:
    """The ShardEntry of a StagedVideo (a ShardEntry is returned as it is)."""
    if isinstance(video, ShardEntry):
        return video
    return ShardEntry(video.video_id, len(video.clips), sum(video.num_bytes))


def replace_clips(staged: StagedVideo, clips: Sequence[Clip], failures: Sequence[Failure] = ()) -> StagedVideo:
    """The staged video with its clips replaced by `clips` (a subset of its clips by key, e.g. with
    annotations filled in; their staged sizes follow them) and `failures` added."""
    size_of = dict(zip((c.key for c in staged.clips), staged.num_bytes))
    unknown = [c.key for c in clips if c.key not in size_of]
    if unknown:
        raise ValueError(f"video {staged.video_id!r}: clips {unknown} were never staged")
    return staged._replace(
        clips=tuple(clips), num_bytes=tuple(size_of[c.key] for c in clips), failures=staged.failures + tuple(failures)
    )


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


def pack_shards(videos: Iterable, config: ShardConfig, first_index: int = 0) -> list:
    """[(shard name, tuple[ShardEntry])]: videos (StagedVideo or ShardEntry) with clips, in order of
    video id, packed greedily under both limits; a video is never split."""
    shards, current, samples, size = [], [], 0, 0
    entries = (shard_entry(v) for v in videos)
    for video in sorted((v for v in entries if v.num_clips), key=lambda v: v.video_id):
        n, b = video.num_clips, video.num_bytes
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


def write_shard(out_dir: str, name: str, videos: Sequence) -> str:
    """Write DIR/shards/<name>.tar and its sidecar from staged videos (a ShardEntry is read from its
    staging manifest), commit it (sidecar last), then delete the videos' staging folders. Returns
    the shard name."""

    shard = f"{name}.tar"
    videos = sorted(
        (load_staged_video(staging_dir(out_dir, v.video_id)) if isinstance(v, ShardEntry) else v for v in videos),
        key=lambda v: v.video_id,
    )
    clips = [c._replace(shard=shard) for v in videos for c in v.clips]
    sizes = [n for v in videos for n in v.num_bytes]
    work = local_work_dir(out_dir, f"shard-{name}")
    ensure_free_space(work)
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
        write_bytes_atomic(join(out_dir, STATE_FAILURES, f"shard-{name}.jsonl"), failures_jsonl(clip_failures))
    put_file_atomic(sidecar_path, join(out_dir, SHARDS, f"{name}.parquet"))  # the commit
    os.rmdir(work)
    for video in videos:
        remove_tree(staging_dir(out_dir, video.video_id))
    return name

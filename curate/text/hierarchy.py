"""The temporally hierarchical test set of VidLA appendix H (table 16): triplets of a short, a medium
and a long clip of one video, nested and centred on the same timestamp.

``python -m curate hierarchical-testset DIR --output OUT`` reads a VidLA-recipe curation output
(the index of ``DIR``: its shards' Parquet sidecars) and writes OUT in the same layout (``OUT/shards/*.tar`` with
their Parquet sidecars, ``OUT/clips.parquet``) holding only the clips of the triplets, plus
``OUT/triplets.parquet`` (one row per triplet). ``python -m train eval --shards OUT --hierarchical``
then reports text-to-video R@1 per scale, as table 16 does.

The planner cuts every scale from the same sentence boundaries (a medium clip is about two short ones,
a long clip two medium ones), so a short clip is almost never centred in a medium one. So each triplet
is built around a long clip: its centre c is the timestamp; the medium and short clips are the groups
of the long clip's sentences grown outwards from the sentence at c, keeping their centre nearest c,
until they reach the scale's target length (30.4 s and 13.2 s, VidLA table 1), and are cut from the
long clip's video (re-encoded, exact). Their text is their sentences; the long clip keeps its row
(summary and caption included). A triplet is kept when both windows are shorter than the clip above
them and their centres lie within ``max_offset`` x the short window's duration of c (0.5: c falls
inside the short clip). ``max_triplets`` are drawn with ``seed`` when there are more (paper: 1K).
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import NamedTuple, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from curate.errors import StageError
from curate.media.cut import ClipRequest, CutConfig, cut_clips
from curate.output.index import open_index
from schemas.arrow import clip_to_row, clips_to_table, table_to_clips
from schemas.records import Sentence

HIERARCHY = ("short", "medium", "long")
TARGET_SECONDS = {"short": 13.2, "medium": 30.4}  # VidLA table 1 mean clip lengths


class Triplet(NamedTuple):
    video_id: str
    centre: float  # seconds of the source video: the long clip's centre
    offset: float  # seconds: the larger distance of the short and medium centres from it
    short: str  # clip keys in the test set
    medium: str
    long: str


def centred_window(sentences: Sequence[dict], centre: float, target: float) -> list:
    """The consecutive sentences around ``centre``: start from the sentence nearest to it and add the
    neighbour (before or after) that keeps the group's centre nearest ``centre``, until the group spans
    ``target`` seconds or there is nothing left to add."""
    if not sentences:
        return []
    first = last = min(
        range(len(sentences)), key=lambda i: abs((sentences[i]["start"] + sentences[i]["end"]) / 2 - centre)
    )

    def off(a, b):
        return abs((sentences[a]["start"] + sentences[b]["end"]) / 2 - centre)

    while sentences[last]["end"] - sentences[first]["start"] < target:
        options = [(off(first - 1, last), first - 1, last)] if first > 0 else []
        options += [(off(first, last + 1), first, last + 1)] if last + 1 < len(sentences) else []
        if not options:
            break
        _, first, last = min(options)
    return list(sentences[first : last + 1])


def plan_triplets(clips: Sequence[dict], max_offset: float = 0.5, max_triplets: int = 1000, seed: int = 0) -> list:
    """(Triplet, {scale: (start, end, sentences)}) for the long clips of ``clips`` (rows with key,
    video_id, scale, index, start, end, sentences); ordered by video and time."""
    if max_offset < 0 or max_triplets < 1:
        raise ValueError(f"need max_offset >= 0 and max_triplets >= 1, got {max_offset}, {max_triplets}")
    planned = []
    for long_clip in clips:
        if long_clip["scale"] != "long":
            continue
        sentences = sorted(long_clip["sentences"] or [], key=lambda s: s["start"])
        centre = (long_clip["start"] + long_clip["end"]) / 2
        windows, above = {}, (long_clip["start"], long_clip["end"])
        for scale in ("medium", "short"):
            group = centred_window(sentences, centre, TARGET_SECONDS[scale])
            if not group:
                break
            start, end = max(group[0]["start"], above[0]), min(group[-1]["end"], above[1])
            if end - start >= above[1] - above[0] - 1e-6:  # not shorter than the clip above it
                break
            windows[scale] = (start, end, group)
            sentences, above = group, (start, end)
        if len(windows) < 2:
            continue
        short_span = windows["short"][1] - windows["short"][0]
        offset = max(abs((a + b) / 2 - centre) for a, b, _ in windows.values())
        if offset > max_offset * short_span:
            continue
        base = f"{long_clip['key']}"
        triplet = Triplet(long_clip["video_id"], centre, offset, f"{base}-short", f"{base}-medium", long_clip["key"])
        planned.append((triplet, windows))
    if len(planned) > max_triplets:
        planned = random.Random(seed).sample(planned, max_triplets)
    return sorted(planned, key=lambda p: (p[0].video_id, p[0].centre))


def _read_members(shard_path: Path, keys: set) -> dict:
    """{key: {suffix: bytes}} of ``keys`` in one shard."""
    found: dict = {}
    try:
        with tarfile.open(shard_path) as tar:
            for info in tar:
                key, _, suffix = info.name.split("/")[-1].partition(".")
                if info.isfile() and key in keys:
                    found.setdefault(key, {})[suffix] = tar.extractfile(info).read()
    except (OSError, tarfile.TarError) as exc:
        raise ValueError(f"cannot read shard {shard_path}: {exc}") from exc
    return found


def _window_clip(long_clip, scale: str, key: str, window: tuple):
    """The Clip record of a window cut from ``long_clip`` (its sentences; no summary or caption)."""

    start, end, group = window
    sentences = tuple(Sentence(**s) for s in group)
    return long_clip._replace(
        key=key,
        scale=scale,
        start=start,
        end=end,
        duration=end - start,
        subtitle=" ".join(s.text for s in sentences),
        sentences=sentences,
        num_words=sum(s.num_words for s in sentences),
        caption=None,
        subtitle_summary=None,
        frame_captions=(),
        frame_times=(),
    )


def write_testset(curation_dir, out_dir, max_offset: float = 0.5, max_triplets: int = 1000, seed: int = 0) -> dict:
    """Plan the triplets of ``curation_dir``, cut their short and medium clips from the long clips'
    videos and write the test set to ``out_dir``; returns a summary."""

    src, out = Path(curation_dir), Path(out_dir)
    index = open_index(str(src))
    if not index.files:
        raise ValueError(
            f"{src} has no index (shards/*.parquet beside shards/*.tar): expected a curation output folder"
        )
    clips = table_to_clips(index.to_table())
    planned = plan_triplets([clip_to_row(c) for c in clips], max_offset, max_triplets, seed)
    if not planned:
        raise ValueError(
            f"no long clip in {src} holds a centred medium and short window (scales there: "
            f"{sorted({c.scale for c in clips})}; curate with --recipe vidla and videos long enough "
            "for long clips)"
        )
    by_key = {c.key: c for c in clips}
    wanted: dict = {}
    for triplet, _ in planned:
        wanted.setdefault(by_key[triplet.long].shard, set()).add(triplet.long)
    members: dict = {}
    for shard, keys in wanted.items():
        members.update(_read_members(src / "shards" / shard, keys))
    (out / "shards").mkdir(parents=True, exist_ok=True)
    written, kept = [], []
    partial = out / "shards" / ".00000.tar.partial"
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(partial, "w") as tar:
        for triplet, windows in planned:
            long_clip = by_key[triplet.long]
            if "mp4" not in members.get(triplet.long, {}):
                continue  # the shard lacks the video: the triplet is left out
            source = Path(tmp) / f"{triplet.long}.mp4"
            source.write_bytes(members[triplet.long]["mp4"])
            keys = {"short": triplet.short, "medium": triplet.medium}
            requests = [
                ClipRequest(keys[s], windows[s][0] - long_clip.start, windows[s][1] - long_clip.start)
                for s in ("short", "medium")
            ]
            try:
                results = cut_clips(str(source), requests, tmp, CutConfig(audio=False))
            except StageError:  # the long clip's own video is unusable: only this triplet is lost
                continue
            if any(isinstance(r, Exception) for r in results):
                continue
            triplet_clips = [_window_clip(long_clip, s, keys[s], windows[s]) for s in ("short", "medium")]
            videos = [Path(r.path).read_bytes() for r in results] + [members[triplet.long]["mp4"]]
            for clip, video in zip([*triplet_clips, long_clip], videos):
                clip = clip._replace(shard="00000.tar")
                for suffix, payload in (("mp4", video), ("json", json.dumps(clip_to_row(clip)).encode())):
                    info = tarfile.TarInfo(f"{clip.key}.{suffix}")
                    info.size = len(payload)
                    tar.addfile(info, io.BytesIO(payload))
                written.append(clip)
            kept.append(triplet)
    if not kept:
        partial.unlink()
        raise ValueError(f"no triplet of {src} could be cut from its long clips' videos")
    partial.replace(out / "shards" / "00000.tar")
    pq.write_table(clips_to_table(written), out / "shards" / "00000.parquet")
    pq.write_table(clips_to_table(written), out / "clips.parquet")
    pq.write_table(pa.Table.from_pylist([t._asdict() for t in kept]), out / "triplets.parquet")
    return {"triplets": len(kept), "clips": len(written), "output": str(out)}


def read_triplets(folder) -> list:
    """The Triplets of a test set written by ``write_testset``."""

    path = Path(folder) / "triplets.parquet"
    if not path.is_file():
        raise ValueError(f"{path} not found: write the test set with `python -m curate hierarchical-testset`")
    return [Triplet(**row) for row in pq.read_table(path).to_pylist()]


# python -m curate hierarchical-testset


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="DIR", help="a curation output folder (vidla recipe)")
    parser.add_argument("--output", required=True, help="folder to write the test set to")
    parser.add_argument("--max-triplets", type=int, default=1000, help="at most this many (paper: 1K)")
    parser.add_argument(
        "--max-offset",
        type=float,
        default=0.5,
        help="the short and medium clips' centres lie within this fraction of the short clip's duration "
        "of the long clip's centre (0.5: it falls inside the short clip)",
    )
    parser.add_argument("--seed", type=int, default=0, help="draws the triplets when there are more")


def main(args: argparse.Namespace) -> int:
    try:
        summary = write_testset(args.input, args.output, args.max_offset, args.max_triplets, args.seed)
    except ValueError as exc:
        print(f"python -m curate hierarchical-testset: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0

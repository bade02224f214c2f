"""The temporally hierarchical test set of VidLA appendix H (table 16): triplets of a short, a medium
and a long clip of one video, nested and centred on the same timestamp.

``python -m curate hierarchical-testset DIR --output OUT`` reads a VidLA-recipe curation output
(``DIR/clips.parquet`` and its shards) and writes OUT in the same layout (``OUT/shards/*.tar`` with
their Parquet sidecars, ``OUT/clips.parquet``) holding only the clips of the chosen triplets, plus
``OUT/triplets.parquet`` (one row per triplet). ``python -m train eval --shards OUT --hierarchical``
then reports text-to-video R@1 per scale, as table 16 does.

A triplet: a short clip s, a medium clip m and a long clip l of the same video with s inside m inside l
whose centres lie within ``max_offset`` x duration(s) of s's centre (0.5: the medium and long centres
fall inside the short clip). Each clip is in at most one triplet (a shared long clip would be the same
gallery video twice); the best-centred candidates are taken first, then ``max_triplets`` of them are
drawn with ``seed`` (paper: 1K).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import random
import tarfile
from pathlib import Path
from typing import NamedTuple, Sequence

HIERARCHY = ("short", "medium", "long")
_EPS = 1e-6  # seconds: boundaries shared by two scales compare equal


class Triplet(NamedTuple):
    video_id: str
    centre: float  # seconds of the source video: the short clip's centre
    offset: float  # seconds: the larger distance of the medium and long centres from it
    short: str  # clip keys
    medium: str
    long: str


def _centre(clip: dict) -> float:
    return (clip["start"] + clip["end"]) / 2


def _inside(inner: dict, outer: dict) -> bool:
    return outer["start"] - _EPS <= inner["start"] and inner["end"] <= outer["end"] + _EPS


def _has_text(clip: dict) -> bool:
    return any((clip.get(name) or "").strip() for name in ("subtitle", "subtitle_summary", "caption"))


def select_triplets(
    clips: Sequence[dict], max_offset: float = 0.5, max_triplets: int = 1000, seed: int = 0
) -> list:
    """Triplets (see the module docstring) from clip rows with key, video_id, scale, start, end and
    texts; ordered by video and time."""
    if max_offset < 0 or max_triplets < 1:
        raise ValueError(f"need max_offset >= 0 and max_triplets >= 1, got {max_offset}, {max_triplets}")
    by_video: dict = {}
    for clip in clips:
        if clip["scale"] in HIERARCHY and _has_text(clip):
            by_video.setdefault(clip["video_id"], {s: [] for s in HIERARCHY})[clip["scale"]].append(clip)
    candidates = []
    for video_id, scales in by_video.items():
        for s in scales["short"]:
            centre, limit = _centre(s), max_offset * (s["end"] - s["start"])
            for m in scales["medium"]:
                if not _inside(s, m) or abs(_centre(m) - centre) > limit:
                    continue
                for long_clip in scales["long"]:
                    if _inside(m, long_clip) and abs(_centre(long_clip) - centre) <= limit:
                        offset = max(abs(_centre(m) - centre), abs(_centre(long_clip) - centre))
                        candidates.append(Triplet(video_id, centre, offset, s["key"], m["key"], long_clip["key"]))
    used, chosen = set(), []
    for t in sorted(candidates, key=lambda t: (t.offset, t.short, t.medium, t.long)):
        if not {t.short, t.medium, t.long} & used:
            chosen.append(t)
            used |= {t.short, t.medium, t.long}
    if len(chosen) > max_triplets:
        chosen = random.Random(seed).sample(chosen, max_triplets)
    return sorted(chosen, key=lambda t: (t.video_id, t.centre))


def _copy_samples(src_shards: Path, keys_by_shard: dict, out_tar: Path, order: Sequence[str]) -> None:
    """The tar members of ``order``'s keys, copied byte for byte from their source shards."""
    members: dict = {}
    for shard, keys in keys_by_shard.items():
        try:
            with tarfile.open(src_shards / shard) as tar:
                for info in tar:
                    key = info.name.split("/")[-1].split(".", 1)[0]
                    if info.isfile() and key in keys:
                        members.setdefault(key, []).append((info, tar.extractfile(info).read()))
        except (OSError, tarfile.TarError) as exc:
            raise ValueError(f"cannot read shard {src_shards / shard}: {exc}") from exc
    missing = [k for k in order if k not in members]
    if missing:
        raise ValueError(f"{len(missing)} clips of clips.parquet are not in their shards, first: {missing[0]}")
    partial = out_tar.with_name(f".{out_tar.name}.partial")
    with tarfile.open(partial, "w") as out:
        for key in order:
            for info, data in members[key]:
                out.addfile(info, fileobj=io.BytesIO(data))
    partial.replace(out_tar)


def write_testset(
    curation_dir, out_dir, max_offset: float = 0.5, max_triplets: int = 1000, seed: int = 0,
    shard_max_samples: int = 999,
) -> dict:
    """Select the triplets of ``curation_dir`` and write the test set to ``out_dir``; returns a summary."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from schemas.arrow import clips_to_table, table_to_clips

    src, out = Path(curation_dir), Path(out_dir)
    index = src / "clips.parquet"
    if not index.is_file():
        raise ValueError(f"{index} not found: expected a curation output folder")
    clips = table_to_clips(pq.read_table(index))
    triplets = select_triplets([c._asdict() for c in clips], max_offset, max_triplets, seed)
    if not triplets:
        scales = sorted({c.scale for c in clips})
        raise ValueError(
            f"no short/medium/long triplet centred on one timestamp in {src} (scales there: {scales}; "
            "curate with --recipe vidla and videos long enough for long clips, or raise --max-offset)"
        )
    by_key = {c.key: c for c in clips}
    order = [key for t in triplets for key in (t.short, t.medium, t.long)]
    (out / "shards").mkdir(parents=True, exist_ok=True)
    per_shard = max(3, shard_max_samples - shard_max_samples % 3)  # a triplet never straddles shards
    written = []
    for number, first in enumerate(range(0, len(order), per_shard)):
        name = f"{number:05d}.tar"
        keys = order[first : first + per_shard]
        keys_by_shard: dict = {}
        for key in keys:
            keys_by_shard.setdefault(by_key[key].shard, set()).add(key)
        _copy_samples(src / "shards", keys_by_shard, out / "shards" / name, keys)
        shard_clips = [by_key[k]._replace(shard=name) for k in keys]
        pq.write_table(clips_to_table(shard_clips), out / "shards" / name.replace(".tar", ".parquet"))
        written += shard_clips
    pq.write_table(clips_to_table(written), out / "clips.parquet")
    table = pa.Table.from_pylist([t._asdict() for t in triplets])
    pq.write_table(table, out / "triplets.parquet")
    return {"triplets": len(triplets), "clips": len(written), "output": str(out)}


def read_triplets(folder) -> list:
    """The Triplets of a test set written by ``write_testset``."""
    import pyarrow.parquet as pq

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
        help="medium and long centres lie within this fraction of the short clip's duration of its "
        "centre (0.5: inside the short clip)",
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

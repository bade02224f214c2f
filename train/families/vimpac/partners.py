"""VIMPAC's positive pairs across the whole video (section 3.2, figure 2b: "the positive clip is
uniformly sampled from the same video"; table 6 ablates the largest distance d_max between the two).

Curation cuts a video into clips (about 13 s each) and writes all of them into one shard, every clip's
json holding its ``video_id``, ``scale`` and ``start``/``end`` in the source video. The positive of a
window is drawn uniformly over the start times its video's clips of the same scale allow (one scale:
the clips of a scale do not overlap, so every moment of the video counts once), within ``d_max``
seconds of the first window when a limit is set, and read from the anchor's own shard: an index of
each local shard (the clips by video and scale, and where their members lie in the tar) is built
once per loader process and kept for a few shards.
"""

from __future__ import annotations

import functools
import json
import random
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional


@dataclass(frozen=True)
class IndexedClip:
    key: str
    start: float  # seconds of the source video
    end: float
    members: tuple  # ((extension, offset, size), ...) of the clip's tar members


class ShardIndex:
    """The clips of one local tar shard by (video_id, scale), and their members' bytes on demand."""

    def __init__(self, path: str):
        self.path = path
        members: dict = {}
        metas: dict = {}
        with tarfile.open(path) as tar:
            for info in tar:
                if not info.isfile():
                    continue
                key, _, ext = Path(info.name).name.partition(".")
                key = str(Path(info.name).parent / key) if "/" in info.name else key
                members.setdefault(key, []).append((ext, info.offset_data, info.size))
                if ext == "json":
                    try:
                        metas[key] = json.loads(tar.extractfile(info).read())
                    except ValueError:
                        continue
        self.videos: dict = {}
        for key, meta in metas.items():
            if meta.get("video_id") and meta.get("start") is not None and meta.get("end") is not None:
                clip = IndexedClip(key, float(meta["start"]), float(meta["end"]), tuple(members[key]))
                self.videos.setdefault((meta["video_id"], meta.get("scale")), []).append(clip)

    def clips(self, video_id: str, scale: Optional[str]) -> list:
        return self.videos.get((video_id, scale), [])

    def read(self, clip: IndexedClip, ext: str) -> Optional[bytes]:
        """The bytes of the clip's ``ext`` member, or None where it has none."""
        for member_ext, offset, size in clip.members:
            if member_ext == ext:
                with open(self.path, "rb") as f:
                    f.seek(offset)
                    return f.read(size)
        return None


@functools.lru_cache(maxsize=4)
def shard_index(path: str) -> ShardIndex:
    return ShardIndex(path)


def local_shard(raw: dict) -> Optional[str]:
    """The local tar file a raw sample came from, if it is one (remote shards have no index)."""
    url = raw.get("__url__")
    if not isinstance(url, str) or "://" in url or url.startswith("pipe:"):
        return None
    return url if Path(url).is_file() else None


def start_range(clip: IndexedClip, span: float) -> tuple:
    """(first, last) start time of a window of ``span`` seconds inside the clip (one point when the
    clip is shorter than the window)."""
    return clip.start, max(clip.start, clip.end - span)


def choose_partner(
    anchor_start: float, clips: list, span: float, max_distance: Optional[float], rng: random.Random
) -> tuple:
    """(clip, start): a window start drawn uniformly over the starts the clips allow, within
    ``max_distance`` seconds of ``anchor_start`` (None: anywhere in the video; 0: the anchor's own
    window). One of the clips must hold ``anchor_start``."""
    ranges = []
    for clip in clips:
        low, high = start_range(clip, span)
        if max_distance is not None:
            low, high = max(low, anchor_start - max_distance), min(high, anchor_start + max_distance)
        if low <= high:
            ranges.append((clip, low, high))
    if not ranges:
        raise ValueError(f"no clip holds a window within {max_distance} s of {anchor_start}")
    total = sum(high - low for _, low, high in ranges)
    if total <= 0:  # only points (d_max = 0, or clips shorter than the window): one of them
        clip, low, _ = ranges[rng.randrange(len(ranges))]
        return clip, low
    pick = rng.uniform(0.0, total)
    for clip, low, high in ranges:
        if pick <= high - low:
            return clip, low + pick
        pick -= high - low
    clip, low, high = ranges[-1]
    return clip, high

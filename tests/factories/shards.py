"""Shards in the DESIGN.md layout (``DIR/shards/{00000..}.tar`` with ``<key>.mp4/.json/.txt``, a Parquet
sidecar per shard, ``DIR/clips.parquet``): tiny generated clips for the trainer, image-text shards,
shards made by the real pipeline, and large committed outputs without media."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Optional, Sequence

from factories.media import make_clip_video
from schemas.arrow import clip_to_row, clips_to_table
from schemas.records import Clip, Sentence, clip_key

WORDS = (
    "red green blue yellow circle square bird dog cat car boat tree river road kitchen window "
    "child walks runs jumps cooks paints builds opens the a on under near quickly slowly"
).split()


def sentence(seed: int, num_words: int = 6) -> str:
    words = [WORDS[(seed * 7 + i * 13) % len(WORDS)] for i in range(num_words)]
    return " ".join(words).capitalize() + "."


def make_clip(
    video_id: str,
    index: int,
    *,
    caption: Optional[str],
    subtitle: str = "",
    summary: Optional[str] = None,
    start: float = 0.0,
    seconds: float = 1.6,
    shard: str = "",
) -> Clip:
    sentences = tuple(
        Sentence(s.strip() + ("" if s.strip().endswith(".") else "."), start + i, start + i + 1, len(s.split()))
        for i, s in enumerate(subtitle.split(". "))
        if s.strip()
    )
    return Clip(
        key=clip_key(video_id, "short", index),
        video_id=video_id,
        scale="short",
        index=index,
        start=start,
        end=start + seconds,
        duration=seconds,
        subtitle=subtitle,
        sentences=sentences,
        num_words=len(subtitle.split()),
        caption=caption,
        subtitle_summary=summary,
        frame_captions=(caption,) if caption else (),
        frame_times=(start,) if caption else (),
        category="Education",
        source_height=720,
        height=64,
        width=96,
        transcript_source="vtt",
        shard=shard,
    )


def write_shards(root, samples: Sequence[tuple], per_shard: int) -> Path:
    """Write ``(Clip, mp4 bytes)`` pairs as ``root/shards/NNNNN.tar`` + ``.parquet`` and
    ``root/clips.parquet``, the way the curation pipeline lays them out."""
    import pyarrow.parquet as pq
    import webdataset as wds

    shard_dir = Path(root) / "shards"
    shard_dir.mkdir(parents=True, exist_ok=True)
    all_clips = []
    for first in range(0, len(samples), per_shard):
        name = f"{first // per_shard:05d}"
        clips = [clip._replace(shard=f"{name}.tar") for clip, _ in samples[first : first + per_shard]]
        with wds.TarWriter(str(shard_dir / f"{name}.tar")) as sink:
            for clip, (_, mp4) in zip(clips, samples[first : first + per_shard]):
                sink.write(
                    {
                        "__key__": clip.key,
                        "mp4": mp4,
                        "json": json.dumps(clip_to_row(clip)).encode(),
                        "txt": clip.subtitle.encode(),
                    }
                )
        pq.write_table(clips_to_table(clips), shard_dir / f"{name}.parquet")
        all_clips += clips
    pq.write_table(clips_to_table(all_clips), Path(root) / "clips.parquet")
    return Path(root)


def make_image_shards(root, num_images: int = 8, size: tuple = (80, 120)) -> Path:
    """Image-text shards as img2dataset writes them (``<key>.jpg``, ``<key>.txt``, ``<key>.json`` with its
    caption), one picture per image (a colour field with a square in a different place), two shards."""
    import io

    import numpy as np
    import webdataset as wds
    from PIL import Image

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for shard in range(2):
        with wds.TarWriter(str(root / f"images-{shard:05d}.tar")) as sink:
            for i in range(shard, num_images, 2):
                pixels = np.full((*size, 3), (40 * i % 256, 255 - 30 * i % 256, 90), dtype=np.uint8)
                pixels[10 + 5 * i : 30 + 5 * i, 20:40] = 255
                buf = io.BytesIO()
                Image.fromarray(pixels).save(buf, format="JPEG", quality=95)
                caption = f"{WORDS[i % len(WORDS)]} {WORDS[(3 * i + 1) % len(WORDS)]} picture"
                sink.write(
                    {
                        "__key__": f"img{i:05d}",
                        "jpg": buf.getvalue(),
                        "txt": caption.encode(),
                        "json": json.dumps({"caption": caption}).encode(),
                    }
                )
    return root


def make_tiny_shards(
    root,
    num_clips: int = 8,
    per_shard: int = 4,
    *,
    corrupt: Sequence[int] = (),
    no_caption: Sequence[int] = (),
    no_subtitle: Sequence[int] = (),
    summaries: Sequence[int] = (),
    subtitles: Sequence[str] = (),
) -> Path:
    """``num_clips`` generated clips of distinct videos; clips whose index is in ``corrupt`` get bytes
    that are not a video; ``no_caption``/``no_subtitle`` drop a text; ``summaries`` add a subtitle
    summary; ``subtitles`` (one per clip) replace the generated subtitle texts."""
    root = Path(root)
    media = root / "media"
    media.mkdir(parents=True, exist_ok=True)
    samples = []
    for i in range(num_clips):
        path = make_clip_video(media / f"v{i:03d}.mp4", variant=i)
        mp4 = b"\x00\x00\x00\x18ftypmp42 not really a video" * 50 if i in corrupt else path.read_bytes()
        subtitle = "" if i in no_subtitle else subtitles[i] if subtitles else f"{sentence(i)} {sentence(i + 100)}"
        clip = make_clip(
            f"vid{i:03d}",
            0,
            caption=None if i in no_caption else sentence(i + 50),
            subtitle=subtitle,
            summary=sentence(i + 200) if i in summaries else None,
        )
        samples.append((clip, mp4))
    return write_shards(root, samples, per_shard)


def make_curated_shards(
    root, recipe: str = "hdvila", num_videos: int = 8, seconds: float = 12.0, short_side: int = 128
) -> Path:
    """Shards made by the real pipeline: ``python -m curate run --recipe RECIPE`` over a generated
    yt-dlp folder of ``num_videos`` 720p videos with speech and subtitles, cut to ``short_side``."""
    import sys

    from samplemedia import make_sample_video, sentences_for

    root = Path(root)
    for i in range(num_videos):
        make_sample_video(root / "ytdlp", f"vid{i:02d}", sentences_for(seconds, seed=i), min_duration=seconds)
    out = root / "curated"
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "curate",
            "run",
            "--recipe",
            recipe,
            "--input",
            str(root / "ytdlp"),
            "--output",
            str(out),
            "--short-side",
            str(short_side),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=600,
    )
    if done.returncode:
        raise RuntimeError(f"curate run failed: {done.stderr[-2000:]}")
    return out


def committed_output(
    out_dir, num_clips: int, *, clips_per_video: int = 25, clips_per_shard: int = 1000, scale: str = "sentence"
) -> list:
    """An output folder with `num_clips` committed clips and no media, as a large run leaves it:
    shard sidecars of realistic rows (five subtitle sentences per clip, a category) beside empty tars.
    Videos are never split across shards. Returns the video ids, in shard order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from schemas import CLIP_SCHEMA

    shards = os.path.join(out_dir, "shards")
    os.makedirs(shards, exist_ok=True)
    videos_per_shard = max(1, clips_per_shard // clips_per_video)
    words = "the quick brown fox jumps over the lazy dog while we talk about bikes".split()
    template = []
    for i in range(videos_per_shard * clips_per_video):
        start = 13.4 * (i % clips_per_video)
        sentences = tuple(
            Sentence(" ".join(words[(i + k) % 7 :][:8]), start + 2.6 * k, start + 2.6 * k + 2.4, 8) for k in range(5)
        )
        template.append(
            Clip(
                "",
                "",
                scale,
                i % clips_per_video,
                start,
                start + 13.4,
                13.4,
                " ".join(s.text for s in sentences),
                sentences,
                40,
                category="Education",
                source_height=720,
                height=720,
                width=1280,
                transcript_source="subtitles",
            )
        )
    template = clips_to_table(template)
    video_ids, made, shard = [], 0, 0
    while made < num_clips:
        n_videos = min(videos_per_shard, -(-(num_clips - made) // clips_per_video))
        ids = [f"v{shard:06d}{j:03d}" for j in range(n_videos)]
        rows = min(n_videos * clips_per_video, num_clips - made)
        table = template.slice(0, rows)
        vid = [ids[i // clips_per_video] for i in range(rows)]
        keys = [clip_key(vid[i], scale, i % clips_per_video) for i in range(rows)]
        name = f"{shard:05d}"
        table = table.set_column(CLIP_SCHEMA.get_field_index("key"), "key", pa.array(keys))
        table = table.set_column(CLIP_SCHEMA.get_field_index("video_id"), "video_id", pa.array(vid))
        table = table.set_column(CLIP_SCHEMA.get_field_index("shard"), "shard", pa.array([f"{name}.tar"] * rows))
        open(os.path.join(shards, f"{name}.tar"), "wb").close()
        pq.write_table(table, os.path.join(shards, f"{name}.parquet"))
        video_ids += ids
        made, shard = made + rows, shard + 1
    return video_ids

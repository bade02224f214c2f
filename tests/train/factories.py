"""Trainer test factories: tiny generated clips written as shards in the DESIGN.md layout
(``DIR/shards/{00000..}.tar`` with ``<key>.mp4/.json/.txt``, a Parquet sidecar per shard,
``DIR/clips.parquet``), a tiny CLIP-compatible tokenizer trained offline, and annotation files of the
public retrieval benchmarks in their real formats.

Loaded by tests/train/conftest.py under the module name ``train_factories`` (tests/factories.py
already owns the name ``factories``).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Optional, Sequence

import pytest

from schemas.arrow import clip_to_row, clips_to_table
from schemas.records import Clip, Sentence, clip_key

WORDS = (
    "red green blue yellow circle square bird dog cat car boat tree river road kitchen window "
    "child walks runs jumps cooks paints builds opens the a on under near quickly slowly"
).split()

SOURCES = (
    "testsrc",
    "testsrc2",
    "smptebars",
    "rgbtestsrc",
    "mandelbrot=size={w}x{h}",
    "cellauto=size={w}x{h}",
)


def make_clip_video(
    path,
    *,
    seconds: float = 1.6,
    fps: int = 10,
    width: int = 96,
    height: int = 64,
    variant: int = 0,
    gop: Optional[int] = None,
    bframes: int = 0,
) -> Path:
    """A short H.264 mp4 of a lavfi test source; ``variant`` picks the source and a hue shift so that
    clips differ. Default encoding is fast (ultrafast, no B-frames); ``bframes``/``gop`` make the
    harder streams the decoder tests need."""
    source = SOURCES[variant % len(SOURCES)].format(w=width, h=height)
    if "=" not in source:
        source = f"{source}=size={width}x{height}"
    hue = (variant * 47) % 360
    cmd = [
        "ffmpeg",
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"{source}:rate={fps}",
        "-vf",
        f"scale={width}:{height},hue=h={hue},format=yuv420p",
        "-t",
        f"{seconds:.2f}",
        "-c:v",
        "libx264",
        "-g",
        str(gop or fps * 2),
    ]
    cmd += ["-preset", "veryfast", "-bf", str(bframes)] if bframes else ["-preset", "ultrafast"]
    cmd += [str(path)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"ffmpeg failed writing {path}: {done.stderr[-1000:]}")
    return Path(path)


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
        Sentence(
            s.strip() + ("" if s.strip().endswith(".") else "."), start + i, start + i + 1, len(s.split())
        )
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
                sink.write({"__key__": f"img{i:05d}", "jpg": buf.getvalue(), "txt": caption.encode(),
                            "json": json.dumps({"caption": caption}).encode()})
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


def make_curated_shards(root, recipe: str = "hdvila", num_videos: int = 8, seconds: float = 12.0,
                        short_side: int = 128) -> Path:
    """Shards made by the real pipeline: ``python -m curate run --recipe RECIPE`` over a generated
    yt-dlp folder of ``num_videos`` 720p videos with speech and subtitles, cut to ``short_side``."""
    import os
    import sys

    from samplemedia import make_sample_video, sentences_for

    root = Path(root)
    for i in range(num_videos):
        make_sample_video(root / "ytdlp", f"vid{i:02d}", sentences_for(seconds, seed=i), min_duration=seconds)
    out = root / "curated"
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    done = subprocess.run(
        [sys.executable, "-m", "curate", "run", "--recipe", recipe, "--input", str(root / "ytdlp"),
         "--output", str(out), "--short-side", str(short_side)],
        capture_output=True, text=True, env=env, check=False, timeout=600,
    )
    if done.returncode:
        raise RuntimeError(f"curate run failed: {done.stderr[-2000:]}")
    return out


def save_tiny_clip(directory, cfg):
    """A randomly initialised transformers CLIPModel with the tower shapes of `cfg` (a ModelConfig or any
    config with the same tower fields), saved with save_pretrained."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    common = dict(intermediate_size=None, hidden_act=cfg.hidden_act, layer_norm_eps=cfg.layer_norm_eps)
    text = dict(common, hidden_size=cfg.text_width, num_hidden_layers=cfg.text_layers,
                num_attention_heads=cfg.text_heads, intermediate_size=int(cfg.text_width * cfg.mlp_ratio),
                vocab_size=cfg.vocab_size, max_position_embeddings=cfg.context_length,
                bos_token_id=cfg.vocab_size - 2, eos_token_id=cfg.vocab_size - 1, pad_token_id=0)
    vision = dict(common, hidden_size=cfg.vision_width, num_hidden_layers=cfg.vision_layers,
                  num_attention_heads=cfg.vision_heads, intermediate_size=int(cfg.vision_width * cfg.mlp_ratio),
                  image_size=cfg.image_size, patch_size=cfg.patch_size)
    torch.manual_seed(123)
    clip = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=cfg.embed_dim)).eval()
    with torch.no_grad():  # HF zero-inits biases and uses unit LayerNorms: make every tensor distinctive
        for p in clip.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    clip.save_pretrained(directory)
    return clip


def make_tiny_tokenizer(out_dir) -> Path:
    from train.tokenizer import build_bpe_tokenizer

    texts = [sentence(i) for i in range(300)] + [" ".join(WORDS)]
    return build_bpe_tokenizer(texts, out_dir, vocab_size=600)


# --- annotation files of the public benchmarks, in their real formats -------------------------


def write_msrvtt_1ka(path, video_ids: Sequence[str], captions: Sequence[str]) -> Path:
    """MSRVTT_JSFUSION_test.csv (CLIP4Clip's 1k-A split): key,vid_key,video_id,sentence."""
    import csv

    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["key", "vid_key", "video_id", "sentence"])
        for i, (vid, cap) in enumerate(zip(video_ids, captions)):
            writer.writerow([f"ret{i}", f"msr{vid[5:]}", vid, cap])
    return Path(path)


def write_didemo(path, video_files: Sequence[str], sentences_per_video: Sequence[Sequence[str]]) -> Path:
    """DiDeMo test_data.json: a list of moments {video, times, description, ...}."""
    rows = []
    for video, sentences in zip(video_files, sentences_per_video):
        for j, text in enumerate(sentences):
            rows.append(
                {
                    "annotation_id": len(rows),
                    "video": video,
                    "description": text,
                    "times": [[j, j], [j, j + 1]],
                    "context": [j, j + 1],
                    "train_times": [[j, j]],
                    "dl_link": "https://example.invalid/" + video,
                    "num_segments": 6,
                }
            )
    Path(path).write_text(json.dumps(rows))
    return Path(path)


def write_activitynet(path, video_ids: Sequence[str], sentences_per_video: Sequence[Sequence[str]]) -> Path:
    """ActivityNet Captions val_1.json: {video_id: {duration, timestamps, sentences}}."""
    doc = {
        vid: {
            "duration": 10.0 * len(s),
            "timestamps": [[10.0 * j, 10.0 * j + 9] for j in range(len(s))],
            "sentences": [" " + t for t in s],
        }
        for vid, s in zip(video_ids, sentences_per_video)
    }
    Path(path).write_text(json.dumps(doc))
    return Path(path)


def write_msvd(path, clips: Sequence[tuple], captions_per_clip: Sequence[Sequence[str]]) -> Path:
    """MSR Video Description Corpus.csv: VideoID,Start,End,WorkerID,Source,AnnotationTime,Language,Description
    (a non-English row per clip checks the language filter)."""
    import csv

    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["VideoID", "Start", "End", "WorkerID", "Source", "AnnotationTime", "Language", "Description"]
        )
        for (vid, start, end), captions in zip(clips, captions_per_clip):
            for k, text in enumerate(captions):
                writer.writerow([vid, start, end, 1000 + k, "clean", 10, "English", text])
            writer.writerow([vid, start, end, 999, "unverified", 10, "German", "ein Satz"])
    return Path(path)


def write_vatex(path, video_ids: Sequence[str], captions_per_video: Sequence[Sequence[str]]) -> Path:
    """VATEX vatex_public_test_english_v1.1.json / validation json: [{videoID, enCap, chCap}]."""
    doc = [
        {"videoID": vid, "enCap": list(caps), "chCap": ["一个句子"] * len(caps)}
        for vid, caps in zip(video_ids, captions_per_video)
    ]
    Path(path).write_text(json.dumps(doc))
    return Path(path)


def fit_args(shards, run, *extra, config: str = "vidla-tiny-cpu") -> list:
    """``python -m train fit`` arguments for a tiny run without a progress bar (``extra``: overrides)."""
    return ["fit", "--config", config, "--shards", str(shards), "--output", str(run), "--no-progress", *extra]


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory) -> Path:
    return make_tiny_tokenizer(tmp_path_factory.mktemp("tokenizer"))


@pytest.fixture(scope="session")
def tiny_shards(tmp_path_factory) -> Path:
    """8 clips in 2 shards: clip 1 has no caption, clip 2 no subtitle, clip 3 a subtitle summary."""
    return make_tiny_shards(
        tmp_path_factory.mktemp("shards"), 8, 4, no_caption=[1], no_subtitle=[2], summaries=[3]
    )


@pytest.fixture(scope="session")
def hdvila_shards(tmp_path_factory) -> Path:
    """A ``curate run --recipe hdvila`` output over 8 generated 720p videos (clips cut to 128p)."""
    return make_curated_shards(tmp_path_factory.mktemp("hdvila_curated"))


def last_json_line(capsys) -> dict:
    """The JSON object a ``python -m train`` command printed last."""
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def one_step_run(tiny_shards, tmp_path_factory) -> Path:
    """A tiny VidLA run folder after one training step (4 frames), for eval and fine-tuning tests."""
    from train.__main__ import main

    run = tmp_path_factory.mktemp("one_step_run")
    argv = ["fit", "--config", "tiny-cpu", "--shards", str(tiny_shards), "--output", str(run), "--steps", "1",
            "--batch-size", "2", "--no-progress"]
    assert main(argv) == 0
    return run

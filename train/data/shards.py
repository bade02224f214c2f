"""Clips from WebDataset shards (DESIGN.md layout), in an order that is a pure function of
(seed, epoch, rank, worker) so that a resumed run continues at the exact sample.

How the order is made:
- every epoch the shard list is shuffled with a seed of (seed, epoch), then split across the
  ``world_size * num_workers`` loader streams (by shard when there are enough shards, else by sample);
- each stream passes its samples through a seeded shuffle buffer, decodes them (corrupt ones are
  skipped and counted) and yields whole batches (a batch may straddle two epochs); a stream never ends
  in training (it moves on to the next epoch), so DataLoader's round robin over workers stays fixed: batch ``b`` of a rank comes from
  stream ``b % num_workers``;
- every batch carries its stream's position (epoch, raw samples consumed, skip counts). The trainer
  keeps the positions of the batches it consumed (``LoaderState``); a resumed loader fast-forwards each
  stream to its position without decoding anything and rotates the streams so the round robin resumes
  at the right one.
"""
from __future__ import annotations

import hashlib
import json
import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Sequence

import torch
import torch.utils.data

from train.data.decode import DecodeError, decode_sampled_frames
from train.data.transforms import center_crop, random_multiscale_crop

log = logging.getLogger(__name__)

SKIP_REASONS = ("unreadable_shard", "bad_json", "missing_video", "undecodable", "no_text")


@dataclass(frozen=True)
class ClipLoaderConfig:
    batch_size: int  # clips per batch of one rank
    num_frames: int  # frames uniformly sampled per clip
    image_size: int  # square crop side fed to the model
    train: bool = True  # True: shuffle, random multi-scale crop + flip, endless epochs; False: one ordered pass, center crop
    crop_scales: tuple = (1.0, 0.8)  # multi-scale random crop: crop side = scale * short side
    decode_short_side: Optional[int] = 280  # frames are scaled at decode so the short side is at most this
    shuffle_buffer: int = 64  # samples held by each stream's shuffle buffer (train only)
    seed: int = 0
    rank: int = 0
    world_size: int = 1
    num_workers: int = 0  # DataLoader worker processes (0: load in the trainer process)
    tokenizer: str = ""  # folder of a CLIP tokenizer; "" leaves texts untokenised
    context_length: int = 77


@dataclass
class StreamPosition:
    epoch: int = 0
    position: int = 0  # raw samples of this epoch's stream consumed (kept or skipped)
    skipped: dict = field(default_factory=dict)  # reason -> count, cumulative over the run


@dataclass
class LoaderState:
    """Where a rank's loader is: what a checkpoint stores to resume the data exactly."""

    num_workers: int
    batch_size: int
    batches: int = 0  # batches consumed from this loader since the start of the run
    streams: dict = field(default_factory=dict)  # stream id -> StreamPosition

    def advance(self, batch: dict) -> None:
        """Record a batch the trainer consumed."""
        meta = batch["stream"]
        self.streams[meta["id"]] = StreamPosition(meta["epoch"], meta["position"], dict(meta["skipped"]))
        self.batches += 1

    def skipped(self) -> Counter:
        total = Counter()
        for pos in self.streams.values():
            total.update(pos.skipped)
        return total

    def to_dict(self) -> dict:
        return {"num_workers": self.num_workers, "batch_size": self.batch_size, "batches": self.batches,
                "streams": {str(k): vars(v) for k, v in self.streams.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> "LoaderState":
        streams = {int(k): StreamPosition(**v) for k, v in d["streams"].items()}
        return cls(d["num_workers"], d["batch_size"], d["batches"], streams)


def expand_shards(pattern: str) -> list:
    """Shard URLs from a pattern: brace expansion (``/data/shards/{00000..00099}.tar``), several
    patterns joined by ``::``, a run folder (its ``shards/*.tar``), or URLs webdataset opens
    (``pipe:``, ``http(s)://``, ``gs://`` through gsutil)."""
    from webdataset.shardlists import expand_urls

    urls = []
    for part in pattern.split("::"):
        path = Path(part)
        if "://" not in part and not part.startswith("pipe:") and path.is_dir():
            found = sorted(str(p) for p in (path / "shards").glob("*.tar")) or sorted(
                str(p) for p in path.glob("*.tar"))
            if not found:
                raise ValueError(f"no .tar shards in {part} or {part}/shards")
            urls += found
        else:
            urls += expand_urls(part)
    missing = [u for u in urls if "://" not in u and not u.startswith("pipe:") and not Path(u).exists()]
    if missing:
        raise ValueError(f"{len(missing)} shard(s) not found, first: {missing[0]}")
    if not urls:
        raise ValueError(f"shard pattern {pattern!r} matches nothing")
    return urls


def _seeded_rng(*parts) -> random.Random:
    return random.Random(hashlib.sha256(repr(parts).encode()).hexdigest())


def _raw_samples(url: str) -> Iterator[dict]:
    """{"__key__", "mp4", "json", "txt", ...} from one shard. A shard that cannot be read (further)
    ends in one {"__error__": "unreadable_shard"} item, which takes a place in the stream like a sample
    so that it is counted once, also across a resume; the samples read before the error are kept."""
    from webdataset.tariterators import tarfile_samples

    try:
        yield from tarfile_samples([{"url": url}])
    except Exception as exc:  # noqa: BLE001 - any read error (truncated tar, network) must not stop training
        yield {"__key__": url, "__error__": "unreadable_shard", "__detail__": str(exc)}


def _stream_samples(shards: Sequence[str], cfg: ClipLoaderConfig, epoch: int, stream_id: int) -> Iterator[dict]:
    """The raw samples of one stream for one epoch, shuffled."""
    shards = list(shards)
    if cfg.train:
        _seeded_rng(cfg.seed, "shards", epoch).shuffle(shards)
    num_splits = cfg.world_size * max(1, cfg.num_workers)
    split = cfg.rank * max(1, cfg.num_workers) + stream_id
    if len(shards) >= num_splits:
        samples = (s for url in shards[split::num_splits] for s in _raw_samples(url))
    else:  # fewer shards than streams: every stream reads every shard and keeps its share of samples
        samples = (s for i, s in enumerate(s for url in shards for s in _raw_samples(url))
                   if i % num_splits == split)
    if not cfg.train or cfg.shuffle_buffer <= 1:
        yield from samples
        return
    rng = _seeded_rng(cfg.seed, "buffer", epoch, cfg.rank, stream_id)
    buffer = []
    for sample in samples:
        if len(buffer) < cfg.shuffle_buffer:
            buffer.append(sample)
            continue
        i = rng.randrange(len(buffer))
        buffer[i], sample = sample, buffer[i]
        yield sample
    rng.shuffle(buffer)
    yield from buffer


def texts_of(meta: dict, fallback_subtitle: str = "") -> tuple:
    """(subtitle, caption) to train on: the subtitle summary where there is one, else the subtitle;
    the (summarised) caption. Either may be ""."""
    subtitle = meta.get("subtitle_summary") or meta.get("subtitle") or fallback_subtitle or ""
    caption = meta.get("caption") or ""
    return subtitle.strip(), caption.strip()


def prepare_sample(raw: dict, cfg: ClipLoaderConfig, epoch: int):
    """A decoded, augmented sample, or the reason it is skipped (one of SKIP_REASONS)."""
    if "__error__" in raw:
        return raw["__error__"]
    try:
        meta = json.loads(raw["json"]) if "json" in raw else {}
    except (ValueError, UnicodeDecodeError):
        return "bad_json"
    subtitle, caption = texts_of(meta, raw.get("txt", b"").decode("utf-8", "replace"))
    if not subtitle and not caption:
        return "no_text"
    if "mp4" not in raw:
        return "missing_video"
    try:
        frames_THWC = decode_sampled_frames(raw["mp4"], cfg.num_frames, short_side=cfg.decode_short_side)
    except DecodeError:
        return "undecodable"
    frames_TCHW = torch.from_numpy(frames_THWC).permute(0, 3, 1, 2)
    if cfg.train:
        # Augmentation depends only on (seed, epoch, key): the same on resume, whatever the worker.
        rng = _seeded_rng(cfg.seed, "augment", epoch, raw["__key__"])
        frames_TCHW = random_multiscale_crop(frames_TCHW, cfg.image_size, cfg.crop_scales, rng)
    else:
        frames_TCHW = center_crop(frames_TCHW, cfg.image_size)
    return {"key": raw["__key__"], "frames": frames_TCHW, "subtitle": subtitle, "caption": caption,
            "video_id": meta.get("video_id", ""), "sentences": [s["text"] for s in meta.get("sentences") or []]}


def collate(samples: list, tokenizer, context_length: int) -> dict:
    """A batch: frames_BTCHW uint8, texts, tokens where a tokenizer is given, has_* masks."""
    batch = {
        "keys": [s["key"] for s in samples],
        "video_ids": [s["video_id"] for s in samples],
        "frames_BTCHW": torch.stack([s["frames"] for s in samples]),
        "subtitle": [s["subtitle"] for s in samples],
        "caption": [s["caption"] for s in samples],
        "sentences": [s["sentences"] for s in samples],
        "has_subtitle": torch.tensor([bool(s["subtitle"]) for s in samples]),
        "has_caption": torch.tensor([bool(s["caption"]) for s in samples]),
    }
    if tokenizer is not None:
        from train.tokenizer import tokenize

        for name in ("subtitle", "caption"):
            batch[f"{name}_ids"], batch[f"{name}_mask"] = tokenize(tokenizer, batch[name], context_length)
    return batch


class ClipBatches(torch.utils.data.IterableDataset):
    """An IterableDataset of whole batches (use with ``DataLoader(batch_size=None)``); see the module
    docstring for the order."""

    def __init__(self, shards: Sequence[str], cfg: ClipLoaderConfig, state: Optional[LoaderState] = None):
        self.shards = list(shards)
        self.cfg = cfg
        self.state = state or LoaderState(max(1, cfg.num_workers), cfg.batch_size)
        if self.state.num_workers != max(1, cfg.num_workers) or self.state.batch_size != cfg.batch_size:
            raise ValueError(
                f"cannot resume the data position: the checkpoint was written with num_workers="
                f"{self.state.num_workers}, batch_size={self.state.batch_size}; now {cfg.num_workers}, "
                f"{cfg.batch_size}")

    def _stream_id(self) -> int:
        info = torch.utils.data.get_worker_info()
        worker = info.id if info is not None else 0
        # rotate so that the next batch the trainer takes (worker 0's first) is stream batches % W's
        return (worker + self.state.batches) % self.state.num_workers

    def __iter__(self) -> Iterator[dict]:
        stream_id = self._stream_id()
        start = self.state.streams.get(stream_id, StreamPosition())
        skipped = Counter(start.skipped)
        tokenizer = None
        if self.cfg.tokenizer:
            from train.tokenizer import load_tokenizer

            tokenizer = load_tokenizer(self.cfg.tokenizer)
        epoch, position = start.epoch, start.position
        pending = []  # a batch may take samples from two epochs; a yielded batch always leaves it empty
        epochs_without_sample = 0
        while True:
            raw_iter = _stream_samples(self.shards, self.cfg, epoch, stream_id)
            for _ in range(position):  # fast-forward: read, never decode
                next(raw_iter, None)
            kept_this_epoch = position > 0
            for raw in raw_iter:
                position += 1
                sample = prepare_sample(raw, self.cfg, epoch)
                if isinstance(sample, str):
                    skipped[sample] += 1
                    log.warning("skipped sample %s (%s)", raw.get("__key__"), sample)
                    continue
                kept_this_epoch = True
                pending.append(sample)
                if len(pending) == self.cfg.batch_size:
                    yield self._batch(pending, tokenizer, stream_id, epoch, position, skipped)
                    pending = []
            if not self.cfg.train:
                if pending:
                    yield self._batch(pending, tokenizer, stream_id, epoch, position, skipped)
                return
            epochs_without_sample = 0 if kept_this_epoch else epochs_without_sample + 1
            if epochs_without_sample > max(3, len(self.shards)):
                raise ValueError(f"loader stream {stream_id} of rank {self.cfg.rank} found no usable sample in "
                                 f"{epochs_without_sample} epochs over {len(self.shards)} shard(s); "
                                 f"skipped: {dict(skipped)}")
            epoch, position = epoch + 1, 0

    def _batch(self, samples, tokenizer, stream_id, epoch, position, skipped) -> dict:
        batch = collate(samples, tokenizer, self.cfg.context_length)
        batch["stream"] = {"id": stream_id, "epoch": epoch, "position": position, "skipped": dict(skipped)}
        return batch


def make_loader(shards: Sequence[str], cfg: ClipLoaderConfig, state: Optional[LoaderState] = None):
    """A DataLoader over ``ClipBatches``; its worker seeds come from a private generator so that creating
    it does not move the global torch RNG (which a resumed run restores)."""
    from torch.utils.data import DataLoader

    return DataLoader(ClipBatches(shards, cfg, state), batch_size=None, num_workers=cfg.num_workers,
                      persistent_workers=False, prefetch_factor=2 if cfg.num_workers else None,
                      generator=torch.Generator().manual_seed(cfg.seed))

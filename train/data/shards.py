"""Clips from WebDataset shards (DESIGN.md layout), in an order that is a pure function of
(seed, epoch, rank, worker) so that a resumed run continues at the exact sample.

How the order is made:
- every epoch the shard list is shuffled with a seed of (seed, epoch), then split across the
  ``world_size * num_workers`` loader streams (by shard when there are enough shards, else by sample);
- each stream passes its samples through a seeded shuffle buffer, decodes them (corrupt ones are
  skipped and counted) and yields whole batches (a batch may straddle two epochs); a stream never ends
  in training (it moves on to the next epoch), so DataLoader's round robin over workers stays fixed:
  batch ``b`` of a rank comes from stream ``b % num_workers``;
- every batch carries its stream's state after it: the epoch, the next input (shard, sample), the
  inputs waiting in the shuffle buffer (as (shard, sample) ids), the buffer's RNG state and the skip
  counts. The trainer keeps the states of the batches it consumed (``LoaderState``). A resumed stream
  re-reads only the buffered samples and the rest of its current shard (nothing is decoded that is
  not used), not the epoch so far, and the streams are rotated so the round robin resumes at the
  right one.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence

import torch
import torch.utils.data

from train.data.decode import DecodeError
from train.data.workers import worker_context

log = logging.getLogger(__name__)

SKIP_REASONS = ("unreadable_shard", "bad_json", "missing_video", "undecodable", "no_text")
# members that make an image sample (image-text shards, e.g. img2dataset's), for sample functions that
# take images (``sample_fn.accepts_images``: the long-video family's mixed image and video stage)
IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")


@dataclass(frozen=True)
class ClipLoaderConfig:
    batch_size: int  # clips per batch of one rank
    num_frames: int  # frames uniformly sampled per clip (VidLA's frames_sample; 0 where a family's
    # sample function reads its sizes from model_config)
    image_size: int  # square crop side fed to the model (as num_frames)
    # True: shuffled, random multi-scale crop + flip, endless epochs; False: one ordered pass, center crop
    train: bool = True
    crop_scales: tuple = (1.0, 0.8)  # multi-scale random crop: crop side = scale * short side
    flip: bool = True  # train: flip horizontally with probability 1/2 (off: texts saying left/right stay true)
    train_crop: str = "multiscale"  # train: "multiscale" random crop, or "center" (the eval crop)
    decode_short_side: Optional[int] = 280  # frames are scaled at decode so the short side is at most this
    shuffle_buffer: int = 64  # samples held by each stream's shuffle buffer (train only)
    # train: follow each sample by the buffered one whose text is most alike without being the same, so
    # that batches hold pairs of hard negatives (ours, not VidLA's; see _ShuffledEpoch.partner_of)
    hard_negative_pairs: bool = False
    seed: int = 0
    rank: int = 0
    world_size: int = 1
    num_workers: int = 0  # DataLoader worker processes (0: load in the trainer process)
    tokenizer: str = ""  # folder of a CLIP tokenizer; "" leaves texts untokenised
    context_length: int = 77
    sample: str = "train.data.samples:frames_sample"  # the family's sample function (train.registry)
    model_config: Any = None  # the family's model config, for sample functions that need its sizes


@dataclass
class LoaderState:
    """Where a rank's loader is: what a checkpoint stores to resume the data exactly."""

    num_workers: int
    batch_size: int
    batches: int = 0  # batches consumed from this loader since the start of the run
    streams: dict = field(default_factory=dict)  # stream id -> the stream's state after its last batch

    def advance(self, batch: dict) -> None:
        """Record a batch the trainer consumed."""
        meta = batch["stream"]
        self.streams[meta["id"]] = meta
        self.batches += 1

    def skipped(self) -> Counter:
        total = Counter()
        for meta in self.streams.values():
            total.update(meta["skipped"])
        return total

    def to_dict(self) -> dict:
        return {
            "num_workers": self.num_workers,
            "batch_size": self.batch_size,
            "batches": self.batches,
            "streams": dict(self.streams),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "LoaderState":
        return cls(d["num_workers"], d["batch_size"], d["batches"], {int(k): v for k, v in d["streams"].items()})


def expand_shards(pattern: str) -> list:
    """Shard URLs from a pattern: brace expansion (``/data/shards/{00000..00099}.tar``), several
    patterns joined by ``::``, a local glob (``'DIR/shards/*.tar'``, quoted so that the shell leaves it
    to us), a curation output folder (its committed ``shards/*.tar``: those whose Parquet sidecar
    exists), or URLs: what webdataset opens itself (``pipe:``, ``http(s)://``, ``gs://`` through
    gsutil) and any other scheme fsspec knows (``s3://``, ``gcs://``, ...)."""
    from webdataset.shardlists import expand_urls

    urls = []
    for part in pattern.split("::"):
        if not _is_url(part) and Path(part).is_dir():
            folder = Path(part) / "shards" if (Path(part) / "shards").is_dir() else Path(part)
            tars = _committed(folder.glob("*.tar"))
            if not tars:
                raise ValueError(f"no .tar shards in {folder}")
            urls += tars
        elif not _is_url(part) and glob.has_magic(part):
            tars = _committed(Path(p) for p in glob.glob(part))
            if not tars:
                raise ValueError(f"shard glob {part!r} matches no .tar file")
            urls += tars
        else:
            urls += expand_urls(part)
    missing = [u for u in urls if not _is_url(u) and not Path(u).exists()]
    if missing:
        raise ValueError(f"{len(missing)} shard(s) not found, first: {missing[0]}")
    if not urls:
        raise ValueError(f"shard pattern {pattern!r} matches nothing")
    _register_fsspec_schemes(urls)
    return urls


def _committed(paths: Iterable[Path]) -> list:
    """The shards among ``paths`` that are complete: hidden (temporary) names are not, and in the curation
    layout (a folder with Parquet sidecars) a shard is committed by its sidecar."""
    tars = sorted(p for p in paths if p.suffix == ".tar" and not p.name.startswith("."))
    sidecar_layout = {folder: any(folder.glob("*.parquet")) for folder in {p.parent for p in tars}}
    return [str(p) for p in tars if not sidecar_layout[p.parent] or p.with_suffix(".parquet").exists()]


def _is_url(text: str) -> bool:
    return "://" in text or text.startswith("pipe:")


def _register_fsspec_schemes(urls: Sequence[str]) -> None:
    """Let webdataset open URL schemes it has no opener for through fsspec (if fsspec knows them).
    Runs in the trainer process before the loader's workers fork, so they inherit it."""
    import sys
    from urllib.parse import urlparse

    gopen_schemes = sys.modules["webdataset.gopen"].gopen_schemes
    for scheme in {urlparse(u).scheme for u in urls if "://" in u} - set(gopen_schemes) - {"file"}:
        try:
            import fsspec

            fsspec.get_filesystem_class(scheme)
        except (ImportError, ValueError) as exc:
            raise ValueError(
                f"cannot open {scheme}:// shards: neither webdataset nor fsspec handles it ({exc})"
            ) from exc
        gopen_schemes[scheme] = _fsspec_open


def _fsspec_open(url, mode="rb", bufsize=8192, **kw):
    import fsspec

    return fsspec.open(url, mode).open()


def _seeded_rng(*parts) -> random.Random:
    return random.Random(hashlib.sha256(repr(parts).encode()).hexdigest())


def raw_samples(url: str) -> Iterator[dict]:
    """{"__key__", "mp4", "json", "txt", ...} from one shard. A shard that cannot be read (further)
    ends in one {"__error__": "unreadable_shard"} item, which takes a place in the stream like a sample
    so that it is counted once, also across a resume; the samples read before the error are kept."""
    from webdataset.tariterators import tarfile_samples

    try:
        yield from tarfile_samples([{"url": url}])
    except Exception as exc:  # noqa: BLE001 - any read error (truncated tar, network) must not stop training
        yield {"__key__": url, "__error__": "unreadable_shard", "__detail__": str(exc)}


class _Stream:
    """One loader stream's inputs for one epoch: ``(id, raw sample)`` with id = (position of the shard in
    this epoch's list, index of the sample in the shard)."""

    def __init__(self, shards: Sequence[str], cfg: ClipLoaderConfig, epoch: int, stream_id: int):
        shards = list(shards)
        if cfg.train:
            _seeded_rng(cfg.seed, "shards", epoch).shuffle(shards)
        self.num_splits = cfg.world_size * max(1, cfg.num_workers)
        self.split = cfg.rank * max(1, cfg.num_workers) + stream_id
        self.by_shard = len(shards) >= self.num_splits
        # by shard: this stream's shards; by sample (fewer shards than streams): every shard, a share of each
        self.shards = shards[self.split :: self.num_splits] if self.by_shard else shards

    def _mine(self, shard_pos: int, index: int) -> bool:
        return self.by_shard or (shard_pos + index) % self.num_splits == self.split

    def _shard_items(self, shard_pos: int, first: int = 0, last: Optional[int] = None) -> Iterator[tuple]:
        for index, raw in enumerate(raw_samples(self.shards[shard_pos])):
            if last is not None and index > last:
                return
            if index >= first and self._mine(shard_pos, index):
                yield (shard_pos, index), raw

    def inputs(self, start: tuple = (0, 0)) -> Iterator[tuple]:
        """Items from input id ``start`` on (the samples of its shard before it are read, not decoded)."""
        for shard_pos in range(start[0], len(self.shards)):
            yield from self._shard_items(shard_pos, start[1] if shard_pos == start[0] else 0)

    def read(self, ids: Sequence[tuple]) -> list:
        """The raw samples of ``ids`` (in that order), reading only the shards they are in."""
        wanted = {}
        for shard_pos, index in ids:
            wanted.setdefault(shard_pos, set()).add(index)
        found = {}
        for shard_pos, indices in sorted(wanted.items()):
            found.update(
                (item_id, raw)
                for item_id, raw in self._shard_items(shard_pos, 0, max(indices))
                if item_id[1] in indices
            )
        lost = [i for i in ids if tuple(i) not in found]
        if lost:
            raise ValueError(
                f"cannot resume the data position: sample {lost[0][1]} of shard "
                f"{self.shards[lost[0][0]]} is gone (did the shards change since the checkpoint?)"
            )
        return [found[tuple(i)] for i in ids]


def texts_of(meta: dict, fallback_subtitle: str = "") -> tuple:
    """(subtitle, caption) to train on: the subtitle summary where there is one, else the subtitle;
    the (summarised) caption. Either may be ""."""
    subtitle = meta.get("subtitle_summary") or meta.get("subtitle") or fallback_subtitle or ""
    caption = meta.get("caption") or ""
    return subtitle.strip(), caption.strip()


def prepare_sample(raw: dict, cfg: ClipLoaderConfig, epoch: int, sample_fn):
    """A sample (texts + the tensors of the family's sample function), or the reason it is skipped
    (one of SKIP_REASONS, or a reason the sample function returns)."""
    if "__error__" in raw:
        return raw["__error__"]
    try:
        meta = json.loads(raw["json"]) if "json" in raw else {}
    except (ValueError, UnicodeDecodeError):
        return "bad_json"
    subtitle, caption = texts_of(meta, raw.get("txt", b"").decode("utf-8", "replace"))
    texts = [t.strip() for t in meta.get("texts") or [] if t and t.strip()]
    if texts and cfg.train:  # a benchmark video with several captions (train.finetune): one per epoch
        subtitle = _seeded_rng(cfg.seed, "text", epoch, raw["__key__"]).choice(texts)
    if not subtitle and not caption:
        return "no_text"
    if "mp4" not in raw and not (
        getattr(sample_fn, "accepts_images", False) and any(ext in raw for ext in IMAGE_EXTENSIONS)
    ):
        return "missing_video"
    # Augmentation depends only on (seed, epoch, key): the same on resume, whatever the worker.
    rng = _seeded_rng(cfg.seed, "augment", epoch, raw["__key__"]) if cfg.train else None
    try:
        tensors = sample_fn(raw, meta, cfg, rng)
    except DecodeError:
        return "undecodable"
    if isinstance(tensors, str):
        return tensors
    return {
        "key": raw["__key__"],
        "tensors": tensors,
        "subtitle": subtitle,
        "caption": caption,
        "video_id": meta.get("video_id", ""),
        "sentences": [s["text"] for s in meta.get("sentences") or []],
    }


def batched_name(name: str) -> str:
    """The batch field of a per-sample field: ``frames_TCHW`` -> ``frames_BTCHW`` (a name without a
    shape suffix stays as it is)."""
    stem, _, shape = name.rpartition("_")
    return f"{stem}_B{shape}" if stem and shape.isupper() else name


def collate(samples: list, tokenizer, context_length: int) -> dict:
    """A batch: the stacked tensors of the sample function (``frames_BTCHW``, ...), texts, tokens where
    a tokenizer is given, has_* masks."""
    batch = {
        "keys": [s["key"] for s in samples],
        "video_ids": [s["video_id"] for s in samples],
        **{batched_name(name): torch.stack([s["tensors"][name] for s in samples]) for name in samples[0]["tensors"]},
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
                f"{cfg.batch_size}"
            )

    def _stream_id(self) -> int:
        info = torch.utils.data.get_worker_info()
        worker = info.id if info is not None else 0
        # rotate so that the next batch the trainer takes (worker 0's first) is stream batches % W's
        return (worker + self.state.batches) % self.state.num_workers

    def __iter__(self) -> Iterator[dict]:
        stream_id = self._stream_id()
        start = self.state.streams.get(stream_id)
        skipped = Counter(start["skipped"] if start else {})
        tokenizer = None
        if self.cfg.tokenizer:
            from train.tokenizer import load_tokenizer

            tokenizer = load_tokenizer(self.cfg.tokenizer)
        epoch = start["epoch"] if start else 0
        pending = []  # a batch may take samples from two epochs; a yielded batch always leaves it empty
        epochs_without_sample = 0
        from train.registry import load

        sample_fn = load(self.cfg.sample)
        while True:
            stream = _Stream(self.shards, self.cfg, epoch, stream_id)
            epoch_reader = _ShuffledEpoch(stream, self.cfg, epoch, start)
            start = None
            kept_this_epoch = epoch_reader.started
            for raw in epoch_reader.outputs():
                sample = prepare_sample(raw, self.cfg, epoch, sample_fn)
                if isinstance(sample, str):
                    skipped[sample] += 1
                    # the first of each reason is a warning; the rest (a stage-2 run skips every short
                    # clip, say) only count: metrics.jsonl's skipped_samples has them all
                    level = logging.WARNING if skipped[sample] == 1 else logging.DEBUG
                    log.log(
                        level,
                        "skipped sample %s (%s); later ones for this reason are counted in skipped_samples, not logged",
                        raw.get("__key__"),
                        sample,
                    )
                    continue
                kept_this_epoch = True
                pending.append(sample)
                if len(pending) == self.cfg.batch_size:
                    yield self._batch(pending, tokenizer, stream_id, epoch, epoch_reader, skipped)
                    pending = []
            if not self.cfg.train:
                if pending:
                    yield self._batch(pending, tokenizer, stream_id, epoch, epoch_reader, skipped)
                return
            epochs_without_sample = 0 if kept_this_epoch else epochs_without_sample + 1
            if epochs_without_sample > max(3, len(self.shards)):
                raise ValueError(
                    f"loader stream {stream_id} of rank {self.cfg.rank} found no usable sample in "
                    f"{epochs_without_sample} epochs over {len(self.shards)} shard(s); "
                    f"skipped: {dict(skipped)}"
                )
            epoch += 1

    def _batch(self, samples, tokenizer, stream_id, epoch, epoch_reader, skipped) -> dict:
        """A batch with the state its stream is in after it (what LoaderState keeps)."""
        batch = collate(samples, tokenizer, self.cfg.context_length)
        batch["stream"] = {"id": stream_id, "epoch": epoch, **epoch_reader.state(), "skipped": dict(skipped)}
        return batch


class _ShuffledEpoch:
    """One epoch of a stream through its seeded shuffle buffer, resumable from ``state()``: the next
    input id, the ids in the buffer, the buffer's RNG, whether the inputs are used up and the partner
    still to come of the last sample (``cfg.hard_negative_pairs``)."""

    def __init__(self, stream: _Stream, cfg: ClipLoaderConfig, epoch: int, resume: Optional[dict] = None):
        self.stream = stream
        self.size = cfg.shuffle_buffer if cfg.train else 0
        self.pairs = cfg.hard_negative_pairs and cfg.train
        self.rng = _seeded_rng(cfg.seed, "buffer", epoch, cfg.rank, stream.split)
        self.next_id, self.buffer, self.draining, self.partner = (0, 0), [], False, None
        self.text_words = {}  # sample key -> its words, for the samples in the buffer (pairs on)
        if resume is not None:
            self.next_id, self.draining = tuple(resume["next"]), resume["draining"]
            self.rng.setstate(_as_rng_state(resume["rng"]))
            ids = [tuple(i) for i in resume["buffer"]]
            partner = resume.get("partner")
            raws = stream.read(ids + ([tuple(partner)] if partner else []))
            self.buffer = list(zip(ids, raws))
            if partner:
                self.partner = (tuple(partner), raws[-1])
        self.started = bool(self.buffer) or self.next_id != (0, 0)

    def state(self) -> dict:
        return {
            "next": self.next_id,
            "draining": self.draining,
            "buffer": [i for i, _ in self.buffer],
            "rng": self.rng.getstate(),
            "partner": self.partner[0] if self.partner else None,
        }

    def outputs(self) -> Iterator[dict]:
        """Raw samples in shuffled order; between two of them ``state()`` is where to resume."""
        if self.partner is not None:  # resumed between a sample and its partner
            yield from self._partner_out()
        if not self.draining:
            for item_id, raw in self.stream.inputs(self.next_id):
                self.next_id = (item_id[0], item_id[1] + 1)
                if len(self.buffer) < self.size:
                    self.buffer.append((item_id, raw))
                    continue
                if self.size:
                    i = self.rng.randrange(len(self.buffer))
                    self.buffer[i], (item_id, raw) = (item_id, raw), self.buffer[i]
                yield from self._with_partner(raw)
            self.next_id = (len(self.stream.shards), 0)
            self.rng.shuffle(self.buffer)
            self.draining = True
        while self.buffer:
            yield from self._with_partner(self.buffer.pop(0)[1])

    def _with_partner(self, raw: dict) -> Iterator[dict]:
        """``raw``, then (with pairs on) its partner, taken out of the buffer before ``raw`` is yielded so
        that a checkpoint between the two resumes to the same partner."""
        if self.pairs:
            i = partner_of(self._words(raw), [self._words(r) for _, r in self.buffer])
            self.text_words.pop(raw.get("__key__"), None)
            if i is not None:
                self.partner = self.buffer.pop(i)
                self.text_words.pop(self.partner[1].get("__key__"), None)
        yield raw
        yield from self._partner_out()

    def _words(self, raw: dict) -> frozenset:
        key = raw.get("__key__")
        if key not in self.text_words:
            self.text_words[key] = text_words(raw)
        return self.text_words[key]

    def _partner_out(self) -> Iterator[dict]:
        if self.partner is not None:
            raw = self.partner[1]
            self.partner = None
            yield raw


def text_words(raw: dict) -> frozenset:
    """The lower-cased words of a raw sample's training text (subtitle or caption)."""
    try:
        meta = json.loads(raw["json"]) if "json" in raw else {}
    except (ValueError, UnicodeDecodeError):
        meta = {}
    subtitle, caption = texts_of(meta, raw.get("txt", b"").decode("utf-8", "replace"))
    return frozenset(re.findall(r"\w+", (subtitle or caption).lower()))


def partner_of(words: frozenset, candidates: Sequence[frozenset]) -> Optional[int]:
    """The index of the candidate word set most like ``words`` (Jaccard) without being the same, the first
    on a tie; None if there is none. A text that differs in one word (the direction of a motion, a colour)
    is the hardest negative an in-batch contrastive loss can see; an identical text would be a false one."""
    best, best_score = None, -1.0
    for i, other_words in enumerate(candidates):
        if other_words == words or not (words | other_words):
            continue
        score = len(words & other_words) / len(words | other_words)
        if score > best_score:
            best, best_score = i, score
    return best


def _as_rng_state(state) -> tuple:
    """random.Random.getstate() back from a checkpoint (lists where tuples were)."""
    version, internal, gauss = state
    return version, tuple(internal), gauss


def make_loader(shards: Sequence[str], cfg: ClipLoaderConfig, state: Optional[LoaderState] = None):
    """A DataLoader over ``ClipBatches``; its worker seeds come from a private generator so that creating
    it does not move the global torch RNG (which a resumed run restores)."""
    from torch.utils.data import DataLoader

    return DataLoader(
        ClipBatches(shards, cfg, state),
        batch_size=None,
        num_workers=cfg.num_workers,
        persistent_workers=False,
        prefetch_factor=2 if cfg.num_workers else None,
        multiprocessing_context=worker_context(cfg.num_workers),
        generator=torch.Generator().manual_seed(cfg.seed),
        worker_init_fn=_ignore_sigterm,
    )


def _ignore_sigterm(worker_id: int) -> None:
    """A SIGTERM sent to the whole process group (Slurm, torchrun) is the trainer's to handle: it
    finishes its step and writes a checkpoint; workers exit with it."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)

"""The shard loader: layout, texts, corrupt samples, splitting, and exact resume of the data position."""

import pytest
import torch
from factories import make_tiny_shards

from train.data.shards import ClipLoaderConfig, LoaderState, expand_shards, make_loader


@pytest.fixture(scope="module")
def corrupt_shards(tmp_path_factory):
    """6 clips in 3 shards; clip 4 is not a video, clip 5 has no text at all."""
    root = make_tiny_shards(tmp_path_factory.mktemp("corrupt"), 6, 2, corrupt=[4], no_caption=[5], no_subtitle=[5])
    return root


def _cfg(**kw):
    base = dict(batch_size=2, num_frames=3, image_size=32, decode_short_side=48, shuffle_buffer=4, seed=3)
    return ClipLoaderConfig(**{**base, **kw})


def _take(loader_iter, n, state=None):
    out = []
    for _ in range(n):
        batch = next(loader_iter)
        if state is not None:
            state.advance(batch)
        out.append(batch)
    return out


def test_expand_shards_patterns_and_folders(tiny_shards):
    listed = expand_shards(str(tiny_shards / "shards" / "{00000..00001}.tar"))
    assert [p.rsplit("/", 1)[1] for p in listed] == ["00000.tar", "00001.tar"]
    assert expand_shards(str(tiny_shards)) == listed
    assert expand_shards(f"{listed[0]}::{listed[1]}") == listed
    with pytest.raises(ValueError, match="not found"):
        expand_shards(str(tiny_shards / "shards" / "{00000..00005}.tar"))


def test_eval_pass_reads_every_clip_once_with_texts_and_masks(tiny_shards, tiny_tokenizer):
    cfg = _cfg(train=False, batch_size=3, tokenizer=str(tiny_tokenizer))
    batches = list(make_loader(expand_shards(str(tiny_shards)), cfg))
    keys = [k for b in batches for k in b["keys"]]
    assert sorted(keys) == [f"vid{i:03d}_short_00000" for i in range(8)]
    by_key = {k: (b, j) for b in batches for j, k in enumerate(b["keys"])}
    b, j = by_key["vid001_short_00000"]
    assert not b["has_caption"][j] and b["has_subtitle"][j]
    b, j = by_key["vid002_short_00000"]
    assert b["has_caption"][j] and not b["has_subtitle"][j]
    b, j = by_key["vid003_short_00000"]
    assert b["subtitle"][j] != b["sentences"][j][0]  # the summary is the subtitle text when present
    assert batches[0]["frames_BTCHW"].shape == (3, 3, 3, 32, 32)
    assert batches[0]["subtitle_ids"].shape == (3, 77) and batches[0]["subtitle_mask"].sum() > 0


def test_corrupt_and_textless_samples_are_skipped_and_counted(corrupt_shards):
    cfg = _cfg(train=False, batch_size=10)
    batches = list(make_loader(expand_shards(str(corrupt_shards)), cfg))
    assert sorted(k for b in batches for k in b["keys"]) == [f"vid{i:03d}_short_00000" for i in range(4)]
    assert batches[-1]["stream"]["skipped"] == {"undecodable": 1, "no_text": 1}


def test_ranks_and_workers_split_the_samples(tiny_shards):
    shards = expand_shards(str(tiny_shards))
    seen = []
    for rank in range(2):  # 2 shards < 2 ranks x 2 workers: sample-level split
        cfg = _cfg(train=False, batch_size=8, rank=rank, world_size=2, num_workers=2)
        seen += [k for b in make_loader(shards, cfg) for k in b["keys"]]
    assert sorted(seen) == [f"vid{i:03d}_short_00000" for i in range(8)]


def test_training_order_depends_on_seed_and_epoch(tiny_shards):
    shards = expand_shards(str(tiny_shards))
    first = [b["keys"] for b in _take(iter(make_loader(shards, _cfg())), 8)]
    again = [b["keys"] for b in _take(iter(make_loader(shards, _cfg())), 8)]
    other = [b["keys"] for b in _take(iter(make_loader(shards, _cfg(seed=4))), 8)]
    assert first == again and first != other
    assert first[:4] != first[4:]  # the next epoch is reshuffled


def test_flip_off_gives_the_same_crops_never_mirrored(tiny_shards):
    """flip=False (TrainConfig.flip, for texts that say left or right): the same random crops as with
    the paper's flip, none of them mirrored."""
    shards = expand_shards(str(tiny_shards))
    flipped = _take(iter(make_loader(shards, _cfg(batch_size=8, decode_short_side=40))), 1)[0]["frames_BTCHW"]
    plain = _take(iter(make_loader(shards, _cfg(batch_size=8, decode_short_side=40, flip=False))), 1)[0]
    mirrored = [not torch.equal(a, b) for a, b in zip(flipped, plain["frames_BTCHW"])]
    assert any(mirrored) and not all(mirrored)
    for a, b, was_mirrored in zip(flipped, plain["frames_BTCHW"], mirrored):
        assert torch.equal(a.flip(-1) if was_mirrored else a, b)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_resumed_loader_continues_at_the_exact_batch(corrupt_shards, num_workers):
    shards = expand_shards(str(corrupt_shards))
    cfg = _cfg(num_workers=num_workers)
    reference = _take(iter(make_loader(shards, cfg)), 7)
    state = LoaderState(max(1, num_workers), cfg.batch_size)
    _take(iter(make_loader(shards, cfg)), 3, state)
    restored = LoaderState.from_dict(state.to_dict())
    resumed = _take(iter(make_loader(shards, cfg, restored)), 4, restored)
    for ref, got in zip(reference[3:], resumed):
        assert ref["keys"] == got["keys"]
        assert (ref["frames_BTCHW"] == got["frames_BTCHW"]).all()  # same augmentation
        assert ref["stream"] == got["stream"]
    with pytest.raises(ValueError, match="num_workers"):
        make_loader(shards, _cfg(num_workers=3), LoaderState.from_dict(state.to_dict()))


# four motions of four shapes: each text has one partner that differs only in the direction
MOTIONS = [
    f"the {c} {s} moves {d}"
    for c, s in (("red", "square"), ("blue", "bar"), ("green", "disc"), ("white", "star"))
    for d in ("up", "down")
]


@pytest.fixture(scope="module")
def motion_shards(tmp_path_factory):
    order = [0, 3, 5, 6, 1, 2, 4, 7]  # partners apart in the shards
    return make_tiny_shards(tmp_path_factory.mktemp("motions"), 8, 4, subtitles=[MOTIONS[i] for i in order])


def _one_word_apart(a: str, b: str) -> bool:
    return len(set(a.split()) ^ set(b.split())) == 2


def test_hard_negative_pairs_put_texts_one_word_apart_together(motion_shards):
    shards = expand_shards(str(motion_shards))
    cfg = _cfg(batch_size=2, shuffle_buffer=6, hard_negative_pairs=True)
    paired = [b["subtitle"] for b in _take(iter(make_loader(shards, cfg)), 8)]
    assert all(_one_word_apart(*texts) for texts in paired)
    plain = [b["subtitle"] for b in _take(iter(make_loader(shards, _cfg(batch_size=2, shuffle_buffer=6))), 8)]
    assert not all(_one_word_apart(*texts) for texts in plain)
    assert sorted(t for b in paired[:4] for t in b) == sorted(MOTIONS)  # an epoch is still every clip once


@pytest.mark.parametrize("num_workers", [0, 2])
def test_hard_negative_pairs_resume_exactly_between_a_sample_and_its_partner(motion_shards, num_workers):
    shards = expand_shards(str(motion_shards))
    cfg = _cfg(batch_size=3, shuffle_buffer=4, hard_negative_pairs=True, num_workers=num_workers)
    reference = _take(iter(make_loader(shards, cfg)), 6)
    state = LoaderState(max(1, num_workers), cfg.batch_size)
    _take(iter(make_loader(shards, cfg)), 3, state)
    assert any(s["partner"] for s in state.streams.values())  # stopped between a pair
    restored = LoaderState.from_dict(state.to_dict())
    resumed = _take(iter(make_loader(shards, cfg, restored)), 3, restored)
    assert [b["keys"] for b in resumed] == [b["keys"] for b in reference[3:]]


def test_fsspec_and_file_urls(tiny_shards):
    import fsspec

    local = expand_shards(str(tiny_shards))
    memfs = fsspec.filesystem("memory")
    for i, path in enumerate(local):
        with open(path, "rb") as f:
            memfs.pipe(f"/trainer-test/{i:05d}.tar", f.read())
    urls = expand_shards("memory://trainer-test/{00000..00001}.tar")
    keys = [k for b in make_loader(urls, _cfg(train=False, batch_size=8)) for k in b["keys"]]
    assert len(keys) == 8
    file_urls = expand_shards("::".join(f"file://{p}" for p in local))
    assert len([k for b in make_loader(file_urls, _cfg(train=False, batch_size=8)) for k in b["keys"]]) == 8
    with pytest.raises(ValueError, match="nosuchscheme"):
        expand_shards("nosuchscheme://bucket/0.tar")


def test_reads_shards_written_by_the_curation_writer(tiny_shards, tmp_path):
    """The pipeline's own shard writer (curate.output.write), committed shards only."""
    import os
    import shutil

    import pyarrow.parquet as pq

    from curate.output import write  # a plain import: a rename fails this test instead of skipping it
    from schemas.arrow import table_to_clips

    clips = table_to_clips(pq.read_table(tiny_shards / "clips.parquet"))
    out = str(tmp_path / "run")
    staged = []
    for clip in clips[:3]:
        folder = write.staging_dir(out, clip.video_id)
        os.makedirs(folder)
        shutil.copy(
            tiny_shards / "media" / f"v{int(clip.video_id[3:]):03d}.mp4",
            os.path.join(folder, f"{clip.key}.mp4"),
        )
        size = os.path.getsize(os.path.join(folder, f"{clip.key}.mp4"))
        staged.append(write.StagedVideo(clip.video_id, (clip,), (size,)))
    write.write_shard(out, "00000", staged)
    (tmp_path / "run" / "shards" / "00001.tar").write_bytes(b"")  # a shard still being written: no sidecar
    shards = expand_shards(out)
    assert [os.path.basename(s) for s in shards] == ["00000.tar"]
    batches = list(make_loader(shards, _cfg(train=False, batch_size=8)))
    assert sorted(batches[0]["keys"]) == sorted(c.key for c in clips[:3])
    assert batches[0]["subtitle"] == [c.subtitle for c in sorted(clips[:3], key=lambda c: c.video_id)]


def test_resume_reads_only_the_buffered_samples_shards(tmp_path, monkeypatch):
    """8 one-clip shards, a shuffle buffer of 2: after 5 batches of 1, a resumed stream opens the shards
    of the 2 buffered samples and those from its next input on, none of the shards consumed before."""
    import train.data.shards as shards_module

    shards = expand_shards(str(make_tiny_shards(tmp_path, 8, 1)))
    cfg = _cfg(batch_size=1, shuffle_buffer=2)
    reference = _take(iter(make_loader(shards, cfg)), 6)
    state = LoaderState(1, 1)
    _take(iter(make_loader(shards, cfg)), 5, state)
    opened = []
    real = shards_module.raw_samples
    monkeypatch.setattr(shards_module, "raw_samples", lambda url: opened.append(url) or real(url))
    resumed = next(iter(make_loader(shards, cfg, LoaderState.from_dict(state.to_dict()))))
    assert resumed["keys"] == reference[5]["keys"]
    stream = state.streams[0]
    order = shards_module._Stream(shards, cfg, stream["epoch"], 0).shards
    buffered = {order[pos] for pos, _ in stream["buffer"]}
    assert len(buffered) == 2 and stream["next"][0] >= 5
    assert set(opened) <= buffered | set(order[stream["next"][0] :])
    assert len(opened) <= 4


def test_a_quoted_glob_lists_the_committed_shards(tiny_shards, tmp_path):
    listed = expand_shards(str(tiny_shards / "shards" / "*.tar"))
    assert listed == expand_shards(str(tiny_shards))
    with pytest.raises(ValueError, match="matches no .tar"):
        expand_shards(str(tmp_path / "nothing" / "*.tar"))


def test_workers_do_not_inherit_a_lock_that_a_trainer_thread_holds(tiny_shards):
    """A worker forked from the trainer would copy the lock held, and wait on it forever (how CI hung)."""
    import threading

    from factories import locked_sample

    held, release = threading.Event(), threading.Event()

    def hold():
        with locked_sample.LOCK:
            held.set()
            release.wait()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    held.wait()
    cfg = _cfg(num_workers=2, sample="factories.locked_sample:locked_frames_sample")
    loader = make_loader(expand_shards(str(tiny_shards)), cfg)
    loader.timeout = 60  # a hung worker fails the test instead of hanging the run
    batches = iter(loader)
    try:
        batch = next(batches)
    finally:
        release.set()
        thread.join()
        for worker in batches._workers:  # a hung worker ignores SIGTERM (train.data.shards._ignore_sigterm)
            worker.kill()
    assert batch["frames_BTCHW"].shape[:2] == (2, 3)

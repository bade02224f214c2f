"""The long-video recipe's data (seed 003): frames at 1 FPS up to the model's frame count, the centre
crop without augmentation, images mixed into the first stage through their own 2D patch embedding,
and the caption loss the paper does not have off by default."""

import json
import random

import pytest
import torch
from factories import make_clip_video, make_image_shards

from train.__main__ import main
from train.checkpoint import load_checkpoint
from train.config import get_preset
from train.data.shards import ClipLoaderConfig, prepare_sample
from train.families.longvideo.data import longvideo_sample, one_fps_indices, seconds_sampled
from train.registry import model_preset


def test_frames_at_one_fps_up_to_the_frame_count():
    # a 40 s clip of 400 frames (10 FPS), 16 frames: 16 consecutive seconds, the frame at k + 1/2 s
    assert one_fps_indices(400, 40.0, 16, None) == [5 + 10 * k for k in range(16)]  # eval: from the start
    starts = set()
    for seed in range(30):
        idx = one_fps_indices(400, 40.0, 16, random.Random(seed))
        assert [b - a for a, b in zip(idx, idx[1:])] == [10] * 15  # 1 s apart
        starts.add(idx[0])
    assert len(starts) > 10 and max(starts) <= 5 + 10 * 24  # a random 16 s window in training
    # an 8 s clip holds 8 seconds: each shown twice, in order
    assert seconds_sampled(8.0, 16, None) == [k // 2 for k in range(16)]
    assert one_fps_indices(240, 8.0, 16, random.Random(0)) == [15 + 30 * (k // 2) for k in range(16)]
    # 128 frames of a 256 s video: 128 s at 1 FPS, not the whole video at 0.5 FPS
    assert one_fps_indices(256 * 25, 256.0, 128, None)[:3] == [12, 37, 62]
    # no duration known: uniformly over the clip
    assert one_fps_indices(100, None, 4, None) == [12, 37, 62, 87]


def _loader(train: bool, **model):
    mcfg = model_preset("longvideo-tiny-cpu").replace(**model)
    cfg = get_preset("longvideo-tiny-cpu")
    return ClipLoaderConfig(
        batch_size=1,
        num_frames=mcfg.num_frames,
        image_size=mcfg.image_size,
        train=train,
        crop_scales=cfg.crop_scales,
        flip=cfg.flip,
        train_crop=cfg.train_crop,
        decode_short_side=96,
        model_config=mcfg,
        sample="train.families.longvideo.data:longvideo_sample",
    )


def test_training_samples_are_the_eval_frames_of_a_short_clip(tmp_path):
    """A 4 s clip and 8 frames: its 4 seconds twice each, centre-cropped and never flipped, whatever the
    epoch (appendix B: centre crop, no augmentation)."""
    raw = {
        "__key__": "k",
        "mp4": make_clip_video(tmp_path / "c.mp4", seconds=4.0, width=128, height=64).read_bytes(),
        "json": json.dumps({"subtitle": "a clip", "duration": 4.0}).encode(),
    }
    evaluated = prepare_sample(raw, _loader(False), 0, longvideo_sample)["tensors"]
    frames = evaluated["frames_TCHW"]
    assert frames.shape == (8, 3, 64, 64) and not evaluated["is_image"]
    assert all(torch.equal(frames[2 * k], frames[2 * k + 1]) for k in range(4))
    assert not torch.equal(frames[0], frames[2])  # testsrc moves: second 0 is not second 1
    for epoch in range(4):
        assert torch.equal(
            prepare_sample(raw, _loader(True), epoch, longvideo_sample)["tensors"]["frames_TCHW"], frames
        )


def test_images_take_their_own_patch_embedding(tmp_path):
    from train.families.longvideo.model import LongVideoCLIP

    images = make_image_shards(tmp_path / "images", 2)
    from train.data.shards import raw_samples

    raw = next(raw_samples(str(images / "images-00000.tar")))
    sample = prepare_sample(raw, _loader(True), 0, longvideo_sample)
    assert sample["subtitle"].endswith("picture") and bool(sample["tensors"]["is_image"])
    frames = sample["tensors"]["frames_TCHW"]
    assert frames.shape == (8, 3, 64, 64) and all(torch.equal(f, frames[0]) for f in frames)
    # a sample function that takes no images skips them as before
    assert prepare_sample(raw, _loader(True), 0, lambda *a: {}) == "missing_video"
    torch.manual_seed(0)
    model = LongVideoCLIP(model_preset("longvideo-tiny-cpu")).eval()
    batch = torch.randn(3, 8, 3, 64, 64)
    flags = torch.tensor([True, False, True])
    with torch.no_grad():
        mixed = model.encode_video(batch, is_image_B=flags)
        torch.testing.assert_close(mixed[flags], model.encode_image(batch[flags, 0]))
        torch.testing.assert_close(mixed[~flags], model.encode_video(batch[~flags]))
    embeddings = model.vision_model.embeddings
    assert embeddings.image_patch_embedding.weight.data_ptr() != embeddings.tubelet_embedding.weight.data_ptr()


@pytest.mark.slow
def test_first_stage_mixes_images_and_short_videos(tiny_shards, tmp_path, capsys):
    images = make_image_shards(tmp_path / "images", 8)
    run = tmp_path / "stage1"
    argv = [
        "fit",
        "--config",
        "longvideo-tiny-cpu",
        "--shards",
        f"{tiny_shards}::{images}",
        "--output",
        str(run),
        "--steps",
        "3",
        "--batch-size",
        "4",
        "--no-progress",
    ]
    assert main(argv) == 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert set(records[-1]["losses"]) == {"subtitle"}  # no caption loss unless weighted
    assert not records[-1]["skipped_samples"].get("missing_video")  # the images were taken
    state = load_checkpoint(run)["model"]
    torch.manual_seed(0)
    from train.families.longvideo.model import LongVideoCLIP

    initial = LongVideoCLIP(model_preset("longvideo-tiny-cpu")).state_dict()
    for name in ("image_patch_embedding", "tubelet_embedding"):  # both paths trained
        key = f"vision_model.embeddings.{name}.weight"
        assert not torch.equal(state[key], initial[key]), name
    # the caption loss is an option
    again = tmp_path / "with_captions"
    assert main([*argv[:6], str(again), *argv[7:], "loss_weights=caption:1"]) == 0
    records = [json.loads(line) for line in (again / "metrics.jsonl").read_text().splitlines()]
    assert set(records[-1]["losses"]) == {"subtitle", "caption"}

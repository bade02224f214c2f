"""HD-VILA's hybrid image sequences: frame indices, aligned HR/LR crops, one-pass decoding at two
sizes, and the WordPiece tokenizer built offline."""

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from train.data.decode import decode_sampled_frames
from train.families.hdvila import tiny_cpu
from train.families.hdvila.data import aligned_crops, hybrid_sample, segment_frame_indices
from train.tokenizer import build_wordpiece_tokenizer, load_tokenizer


def _write_static_video(path, width, height, frames=24, fps=8):
    """A still picture of 8x8 random colour blocks (static, so HR and LR frames of any time agree)."""
    import av

    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    image = np.repeat(np.repeat(blocks, 8, 0), 8, 1)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv444p"
        stream.options = {"crf": "0", "preset": "ultrafast"}
        for _ in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_segment_indices_centre_and_neighbours():
    cfg = tiny_cpu().replace(num_segments=2, num_neighbours=2, sample_rate=3)
    plan = segment_frame_indices(40, cfg, None)
    assert plan == [(9, [3, 6, 12, 15]), (29, [23, 26, 32, 35])]
    # neighbours are clamped to the clip; training draws the HR frame inside its segment
    assert segment_frame_indices(4, cfg, None)[0] == (0, [0, 0, 3, 3])
    assert segment_frame_indices(1, cfg, None) == [(0, [0, 0, 0, 0])] * 2  # a one-frame clip
    rng = random.Random(0)
    for _ in range(20):
        (t0, _), (t1, _) = segment_frame_indices(40, cfg, rng)
        assert 0 <= t0 < 20 <= t1 < 40


def test_aligned_crops_cover_the_same_scene():
    """LR frames that are the HR frame at a quarter size: the LR crop equals the HR crop at a quarter."""
    torch.manual_seed(0)
    hr = torch.randint(0, 256, (2, 3, 96, 200), dtype=torch.uint8)
    lr = F.avg_pool2d(hr.float(), 4).round().to(torch.uint8)  # (2, 3, 24, 50)
    lr = lr[:, None].expand(2, 2, 3, 24, 50)
    for rng in (random.Random(1), random.Random(2), None):
        hr_crop, lr_crop = aligned_crops(hr, lr, (64, 128), rng)
        assert hr_crop.shape == (2, 3, 64, 128) and lr_crop.shape == (2, 2, 3, 16, 32)
        want = F.avg_pool2d(hr_crop.float(), 4).round().to(torch.uint8)
        torch.testing.assert_close(lr_crop[:, 0], want, atol=1, rtol=0)


def test_a_frame_smaller_than_the_crop_is_scaled_up():
    hr = torch.zeros(1, 3, 40, 60, dtype=torch.uint8)
    lr = torch.zeros(1, 2, 3, 10, 15, dtype=torch.uint8)
    hr_crop, lr_crop = aligned_crops(hr, lr, (64, 128), None)
    assert hr_crop.shape == (1, 3, 64, 128) and lr_crop.shape == (1, 2, 3, 16, 32)


@pytest.fixture(scope="module")
def still_video(tmp_path_factory):
    return _write_static_video(tmp_path_factory.mktemp("hdvila") / "still.mp4", 320, 192)


def _misfit(lr_CHW, hr_CHW, shift):
    """Mean absolute difference between the LR crop shifted by ``shift`` LR pixels and the HR crop
    averaged down by 4 (away from the borders the shift wraps)."""
    quarter = F.avg_pool2d(hr_CHW.float(), 4)
    return float((lr_CHW.float().roll(shift, dims=(-2, -1)) - quarter).abs()[:, 2:-2, 2:-2].mean())


def test_hybrid_sample_decodes_hr_full_and_lr_small_aligned(still_video):
    cfg = tiny_cpu().replace(hr_size=(128, 192))
    full = decode_sampled_frames(str(still_video), 1)[0]  # (192, 320, 3)
    for rng in (random.Random(3), None):
        sample = hybrid_sample(str(still_video), cfg, rng)
        hr, lr = sample["hr_frames"], sample["lr_frames"]
        assert hr.dtype == lr.dtype == torch.uint8
        assert hr.shape == (cfg.num_segments, 3, 128, 192)
        assert lr.shape == (cfg.num_segments, 2 * cfg.num_neighbours, 3, 32, 48)
        # the HR frame is the source at full resolution: it is found in the decoded frame pixel for pixel
        hr_np = hr[0].permute(1, 2, 0).numpy()
        found = [
            (top, left)
            for top in range(0, 192 - 128 + 1, 4)
            for left in range(0, 320 - 192 + 1, 4)
            if np.array_equal(full[top : top + 128, left : left + 192], hr_np)
        ]
        assert len(found) == 1
        # the LR crop is that region at a quarter of the size: no one-pixel shift of it fits better
        assert _misfit(lr[0, 0], hr[0], (0, 0)) < 0.5 * min(
            _misfit(lr[0, 0], hr[0], (dy, dx)) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx
        )


def test_paper_crops_from_a_720p_clip(tmp_path):
    """640x1024 HR crops of the 720p frame at full resolution, 160x256 LR crops aligned with them."""
    video = _write_static_video(tmp_path / "hd.mp4", 1280, 720, frames=8)
    cfg = tiny_cpu().replace(hr_size=(640, 1024), sample_rate=1)
    sample = hybrid_sample(str(video), cfg, random.Random(5), hr_short_side=None)
    hr, lr = sample["hr_frames"], sample["lr_frames"]
    assert hr.shape == (2, 3, 640, 1024) and lr.shape == (2, 2, 3, 160, 256)
    assert _misfit(lr[0, 1], hr[0], (0, 0)) < 0.5 * min(
        _misfit(lr[0, 1], hr[0], (0, 1)), _misfit(lr[0, 1], hr[0], (1, 0))
    )


def test_hybrid_sample_scales_hr_to_a_short_side(still_video):
    cfg = tiny_cpu()  # 64 x 128 HR crops
    sample = hybrid_sample(str(still_video), cfg, random.Random(0), hr_short_side=96)
    assert sample["hr_frames"].shape[-2:] == (64, 128) and sample["lr_frames"].shape[-2:] == (16, 32)
    lr, hr = sample["lr_frames"][1, 1], sample["hr_frames"][1]
    assert _misfit(lr, hr, (0, 0)) < 0.5 * min(_misfit(lr, hr, (0, 1)), _misfit(lr, hr, (1, 0)))


def test_wordpiece_tokenizer_built_offline(tmp_path):
    texts = ["The red bird flies over the river.", "A dog runs; the dog jumps!"] * 5
    folder = build_wordpiece_tokenizer(texts, tmp_path / "tok", vocab_size=400)
    again = build_wordpiece_tokenizer(list(reversed(texts)), tmp_path / "tok2", vocab_size=400)
    tok = load_tokenizer(folder)
    assert tok.get_vocab() == load_tokenizer(again).get_vocab()
    assert (tok.pad_token_id, tok.unk_token_id, tok.cls_token_id, tok.sep_token_id, tok.mask_token_id) == (
        0,
        100,
        101,
        102,
        103,
    )
    ids = tok("The dog flies", padding="max_length", max_length=8)["input_ids"]
    assert ids[0] == 101 and 102 in ids and tok.unk_token_id not in ids
    # an unseen word of known letters splits into WordPieces instead of [UNK]
    pieces = tok.tokenize("riverdog")
    assert len(pieces) > 1 and pieces[1].startswith("##") and "[UNK]" not in pieces
    assert len(tok) <= 400


def test_pipeline_shards_give_aligned_hybrid_sequences(hdvila_shards):
    """Every clip of a ``curate run --recipe hdvila`` output decodes into HR + LR sequences."""
    import json

    from webdataset.tariterators import tarfile_samples

    from train.data.shards import expand_shards

    cfg = tiny_cpu()
    samples = list(tarfile_samples([{"url": u} for u in expand_shards(str(hdvila_shards))]))
    assert len(samples) >= 6
    for raw in samples:
        meta = json.loads(raw["json"])
        assert meta["height"] == 128  # the recipe's 720p sources, cut to the requested short side
        sample = hybrid_sample(raw["mp4"], cfg, random.Random(0), hr_short_side=72)
        assert sample["hr_frames"].shape == (2, 3, 64, 128)
        assert sample["lr_frames"].shape == (2, 2, 3, 16, 32)

"""Sampled-frame decoding and the crop/flip transforms."""

import random

import numpy as np
import pytest
import torch
from factories import make_clip_video

from train.data.decode import DecodeError, decode_all_then_sample, decode_sampled_frames, uniform_indices
from train.data.transforms import center_crop, normalize, random_multiscale_crop


@pytest.fixture(scope="module")
def bframe_video(tmp_path_factory):
    """4 s at 25 fps, a keyframe every 12 frames and B-frames: the decoder must seek across GOPs and
    reorder frames."""
    return make_clip_video(
        tmp_path_factory.mktemp("dec") / "b.mp4",
        seconds=4,
        fps=25,
        width=160,
        height=96,
        variant=1,
        gop=12,
        bframes=3,
    )


def _all_frames(path):
    import av

    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def test_uniform_indices_are_segment_centres():
    assert uniform_indices(100, 4) == [12, 37, 62, 87]
    assert uniform_indices(3, 6) == [0, 0, 1, 1, 2, 2]
    with pytest.raises(DecodeError):
        uniform_indices(0, 4)


@pytest.mark.parametrize("indices", [[0, 1, 2], [99, 5, 50, 13, 12, 11], [3, 3, 40]])
def test_sampled_frames_match_a_full_decode(bframe_video, indices):
    full = _all_frames(bframe_video)
    assert len(full) == 100
    got = decode_sampled_frames(str(bframe_video), len(indices), indices=indices)
    np.testing.assert_array_equal(got, full[indices])


def test_uniform_sampling_from_bytes_matches_baseline_with_scaling(bframe_video):
    data = bframe_video.read_bytes()
    got = decode_sampled_frames(data, 12, short_side=64)
    np.testing.assert_array_equal(got, decode_all_then_sample(data, 12, short_side=64))
    assert got.shape == (12, 64, 107, 3)


def test_undecodable_input_is_a_decode_error(bframe_video):
    with pytest.raises(DecodeError):
        decode_sampled_frames(b"\x00\x00\x00\x18ftypmp42" + b"x" * 500, 4)
    with pytest.raises(DecodeError):
        decode_sampled_frames(bframe_video.read_bytes()[:2000], 4)  # truncated before any frame


def test_multiscale_crop_flip_and_center_crop_shapes():
    frames = torch.randint(0, 256, (5, 3, 90, 160), dtype=torch.uint8)
    for seed in range(20):
        out = random_multiscale_crop(frames, 64, (1.0, 0.8), random.Random(seed))
        assert out.shape == (5, 3, 64, 64) and out.dtype == torch.uint8
    # at scale 0.8 of the short side the crop is 72x72 and is resized up to the requested 90
    ramp = torch.arange(90, dtype=torch.uint8).repeat(1, 3, 90, 1)
    out = random_multiscale_crop(ramp, 90, (0.8,), random.Random(1), flip=False)
    assert int(out[0, 0, 0, -1]) - int(out[0, 0, 0, 0]) == 71
    assert center_crop(frames, 48).shape == (5, 3, 48, 48)


def test_crop_is_the_same_for_every_frame_and_flip_mirrors():
    row = torch.arange(100, dtype=torch.uint8).repeat(4, 3, 100, 1)  # value = column index
    seen_flip = seen_plain = False
    for seed in range(10):
        out = random_multiscale_crop(row, 100, (1.0,), random.Random(seed))
        assert torch.equal(out[0], out[3])
        if out[0, 0, 0, 0] == 99:
            seen_flip = True
            assert torch.equal(out, row.flip(-1))
        else:
            seen_plain = True
            assert torch.equal(out, row)
    assert seen_flip and seen_plain


def test_center_crop_takes_the_middle():
    frames = torch.zeros(1, 3, 10, 30, dtype=torch.uint8)
    frames[..., 10:20] = 255
    assert bool((center_crop(frames, 10) == 255).all())


def test_normalize_uses_clip_statistics():
    out = normalize(torch.full((1, 1, 3, 2, 2), 255, dtype=torch.uint8))
    assert torch.allclose(out[0, 0, 0], torch.full((2, 2), (1 - 0.48145466) / 0.26862954))

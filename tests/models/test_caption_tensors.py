"""Frames reach BLIP-2 without its PIL processor: scaled in the decoder (curate.media.frames) and
rescaled + normalised as one tensor op (curate.models.caption.FrameTensors). Both compared with
Blip2Processor on real decoded frames (test pattern and camera footage):

- on the same frames the pixel_values agree to float32 rounding (|diff| <= 1e-5) and the captions
  are identical;
- decoder-scaled frames against the processor resizing the full 1280x720 frame with PIL: mean |diff|
  <= 0.03 in pixel_values units (about 2 levels of 255; measured ~0.017 on the test pattern), at most
  1.5% of the values beyond 0.25 (about 17 levels, along hard colour edges; measured 0.8%)."""

import numpy as np
import pytest

from curate.media.frames import decode_frames, frame_to_rgb
from curate.models.caption import Blip2Captioner, captioner_input_size

TIMES = [0.5, 2.2, 4.9, 7.1, 9.6, 12.3]


@pytest.fixture(scope="module")
def captioner(tiny_blip2):
    return Blip2Captioner.load(tiny_blip2, device="cpu", max_new_tokens=8)


@pytest.mark.parametrize("video", ["sample_video", "sample_video_bikes"])
def test_tensor_path_equals_blip2_processor(captioner, tiny_blip2, video, request):
    path = request.getfixturevalue(video).media_path
    small = [f for _, f in decode_frames(path, TIMES, captioner_input_size(tiny_blip2))]
    assert captioner.tensors.accepts(small)
    ours = captioner.pixel_values(small)
    processor = captioner.processor
    same = processor(images=small, return_tensors="pt")["pixel_values"]
    assert ours.shape == same.shape == (len(TIMES), 3, 224, 224) and ours.dtype == same.dtype
    assert float((ours - same).abs().max()) <= 1e-5
    assert captioner.caption(small) == captioner.generate(same)

    full = [f for _, f in decode_frames(path, TIMES)]
    assert full[0].shape == (720, 1280, 3)
    diff = (ours - processor(images=full, return_tensors="pt")["pixel_values"]).abs()
    assert float(diff.mean()) <= 0.03
    assert float((diff > 0.25).float().mean()) <= 0.015


def test_other_images_go_through_the_processor(captioner):
    rng = np.random.default_rng(1)
    odd = [rng.integers(0, 255, (100, 160, 3), dtype=np.uint8) for _ in range(2)]
    assert not captioner.tensors.accepts(odd)
    expected = captioner.processor(images=odd, return_tensors="pt")["pixel_values"]
    assert float((captioner.pixel_values(odd) - expected).abs().max()) == 0.0


def test_caption_runs_in_forward_passes_of_batch_size(tiny_blip2, sample_video):
    frames = [f for _, f in decode_frames(sample_video.media_path, TIMES, (224, 224))]
    whole = Blip2Captioner.load(tiny_blip2, device="cpu", max_new_tokens=8, batch_size=len(frames))
    passes = []
    split = Blip2Captioner.load(tiny_blip2, device="cpu", max_new_tokens=8, batch_size=4)
    generate = split.generate
    split.generate = lambda pixel_values: passes.append(len(pixel_values)) or generate(pixel_values)
    assert split.caption(frames) == whole.caption(frames)
    assert passes == [4, 2]
    assert Blip2Captioner.load(tiny_blip2, device="cpu").batch_size == 16  # the CPU default


def test_frame_to_rgb_keeps_colour_edges_like_pil():
    import av
    from PIL import Image

    # narrow saturated bars, 4:2:0: scaling straight to RGB is ~17 levels off PIL here, 4:4:4 first ~2.6
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    bars = np.zeros((144, 256, 3), dtype=np.uint8)
    for i in range(256 // 8):
        bars[:, 8 * i : 8 * i + 8] = colours[i % 4]
    frame = av.VideoFrame.from_ndarray(bars, format="rgb24").reformat(format="yuv420p")
    small = frame_to_rgb(frame, (64, 36))
    assert small.shape == (36, 64, 3) and small.dtype == np.uint8
    pil = np.array(Image.fromarray(frame_to_rgb(frame)).resize((64, 36), Image.BICUBIC))
    assert np.abs(small.astype(int) - pil).mean() <= 5.0

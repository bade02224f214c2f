"""VIMPAC's two-window samples from pipeline-made shards, and precomputed codes that match on-the-fly ones."""

import io
import json
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from train.families.vimpac.config import vimpac_tiny
from train.families.vimpac.data import two_window_indices, vimpac_sample, window_stride
from train.vq import DalleEncoder, DalleTokenizer


def test_two_windows_at_the_pretraining_rate():
    assert window_stride(300, 10.0) == 15  # 30 fps -> every 15th frame is 2 FPS
    assert window_stride(300, None) == 1
    rng = random.Random(0)
    idx = two_window_indices(300, 5, 15, rng)
    assert len(idx) == 10
    for window in (idx[:5], idx[5:]):
        assert np.all(np.diff(window) == 15) and 0 <= window[0] and window[-1] < 300
    starts = {tuple(two_window_indices(300, 5, 15, rng)[::5]) for _ in range(50)}
    assert len(starts) > 40  # placed independently and uniformly
    assert two_window_indices(300, 5, 15, None) == [*range(0, 61, 15), *range(239, 300, 15)]
    assert two_window_indices(6, 4, 15, rng)[:4] in ([0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5])  # shrunk stride
    assert two_window_indices(2, 4, 1, None) == [0, 1, 1, 1, 0, 1, 1, 1]
    with pytest.raises(ValueError):
        two_window_indices(0, 4, 1, rng)


def _raw(shards, index=0):
    from webdataset.tariterators import tarfile_samples

    samples = list(tarfile_samples([{"url": str(p)} for p in sorted((shards / "shards").glob("*.tar"))]))
    return samples[index]


def _loader_cfg(mcfg):
    return SimpleNamespace(model_config=mcfg, decode_short_side=96, train=True)


def test_sample_decodes_two_centre_cropped_windows(tiny_shards):
    raw = _raw(tiny_shards)
    out = vimpac_sample(raw, json.loads(raw["json"]), _loader_cfg(vimpac_tiny()), random.Random(0))
    assert out["frames_TCHW"].shape == (4, 3, 64, 64) and out["second_TCHW"].shape == (4, 3, 64, 64)
    assert out["frames_TCHW"].dtype == torch.uint8
    # eval: the first and the last window of the 16-frame clip at 10 FPS, distinct
    first = vimpac_sample(raw, json.loads(raw["json"]), _loader_cfg(vimpac_tiny()), None)
    assert not torch.equal(first["frames_TCHW"], first["second_TCHW"])


def test_precomputed_codes_match_the_tokenizer_and_skip_decoding(tiny_shards, tmp_path):
    from train.families.vimpac.precompute import main

    torch.manual_seed(0)
    encoder = DalleEncoder(16, 1, 8192)
    torch.save(encoder.state_dict(), tmp_path / "dvae.pt")
    totals = main(["--shards", str(tiny_shards), "--output", str(tmp_path / "coded"),
                   "--dvae-weights", str(tmp_path / "dvae.pt"), "--image-size", "64", "--short-side", "96",
                   "--fps", "2"])
    assert totals == {"samples": 8, "with_codes": 8, "undecodable": 0}
    from webdataset.tariterators import tarfile_samples

    raw = next(iter(tarfile_samples([{"url": str(p)} for p in sorted((tmp_path / "coded").glob("*.tar"))])))
    assert {"mp4", "json", "txt", "codes.npy"} <= set(raw)
    codes = np.load(io.BytesIO(raw["codes.npy"]))
    assert codes.dtype == np.uint16 and codes.shape == (4, 8, 8)  # 1.6 s at 2 FPS, 64 / 8 tokens a side
    cfg = _loader_cfg(vimpac_tiny().replace(sample_fps=2.0))
    out = vimpac_sample({**raw, "mp4": b"not decoded"}, json.loads(raw["json"]), cfg, random.Random(1))
    assert set(out) == {"codes_THW", "second_codes_THW"} and out["codes_THW"].shape == (4, 8, 8)
    # the same codes as tokenizing the frames the on-the-fly path decodes (eval windows: the whole clip)
    video_only = {k: v for k, v in raw.items() if k != "codes.npy"}
    frames = vimpac_sample(video_only, json.loads(raw["json"]), cfg, None)["frames_TCHW"]
    assert torch.equal(DalleTokenizer(encoder).encode(frames[None].float() / 255)[0], torch.from_numpy(codes.astype(np.int64)))
    bad = vimpac_sample({**raw, "codes.npy": raw["codes.npy"]}, {}, _loader_cfg(vimpac_tiny().replace(image_size=128)), None)
    assert bad == "bad_codes"

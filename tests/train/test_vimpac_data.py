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
    totals = main(
        [
            "--shards",
            str(tiny_shards),
            "--output",
            str(tmp_path / "coded"),
            "--dvae-weights",
            str(tmp_path / "dvae.pt"),
            "--image-size",
            "64",
            "--short-side",
            "96",
            "--fps",
            "2",
        ]
    )
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
    assert torch.equal(
        DalleTokenizer(encoder).encode(frames[None].float() / 255)[0], torch.from_numpy(codes.astype(np.int64))
    )
    bad = vimpac_sample(
        {**raw, "codes.npy": raw["codes.npy"]}, {}, _loader_cfg(vimpac_tiny().replace(image_size=128)), None
    )
    assert bad == "bad_codes"


# --- positives across the video (section 3.2, table 6) -----------------------------------------


@pytest.fixture(scope="module")
def one_long_video(tmp_path_factory):
    """Shards with video "long" cut into five 2 s short clips (each its own picture, 10 FPS) and one
    medium clip over the same 10 s, and a video "other" of one clip."""
    from factories import make_clip, make_clip_video, write_shards

    from schemas.records import clip_key

    root = tmp_path_factory.mktemp("long_video")
    samples = []
    for i in range(5):
        mp4 = make_clip_video(root / f"c{i}.mp4", variant=i, seconds=2.0).read_bytes()
        samples.append((make_clip("long", i, caption="a clip", start=2.0 * i, seconds=2.0), mp4))
    medium = make_clip("long", 0, caption="all of it", start=0.0, seconds=10.0)
    medium = medium._replace(scale="medium", key=clip_key("long", "medium", 0))
    samples.append((medium, make_clip_video(root / "m.mp4", variant=5, seconds=10.0).read_bytes()))
    samples.append((make_clip("other", 0, caption="another"), make_clip_video(root / "o.mp4", variant=6).read_bytes()))
    return write_shards(root / "data", samples, per_shard=10)


def _clip_of(frame, decoded: dict):
    """The clip whose decoded frames include ``frame`` exactly."""
    found = [key for key, frames in decoded.items() if any(torch.equal(frame, f) for f in frames)]
    assert len(found) == 1, found
    return found[0]


def test_positive_windows_come_from_the_whole_video(one_long_video):
    from train.families.vimpac.data import decode_clip_frames

    raws = {r["__key__"]: r for r in (_raw(one_long_video, i) for i in range(7))}
    decoded = {key: decode_clip_frames(r["mp4"], lambda n: range(n), 64, 96) for key, r in raws.items()}
    anchor = raws["long_short_00000"]
    meta = json.loads(anchor["json"])
    cfg = _loader_cfg(vimpac_tiny())
    partners = []
    for seed in range(40):
        out = vimpac_sample(anchor, meta, cfg, random.Random(seed))
        assert _clip_of(out["frames_TCHW"][0], decoded) == "long_short_00000"
        partners.append(_clip_of(out["second_TCHW"][0], decoded))
        assert {_clip_of(f, decoded) for f in out["second_TCHW"]} == {partners[-1]}  # one clip's window
    # uniform over the video's 10 s: every short clip, about 4 in 5 draws another clip than the anchor's
    assert set(partners) == {f"long_short_{i:05d}" for i in range(5)}
    assert 20 <= sum(p != "long_short_00000" for p in partners) <= 39
    # the same draw for the same (seed, epoch, key): exact resume
    again = vimpac_sample(anchor, meta, cfg, random.Random(3))
    assert torch.equal(again["second_TCHW"], vimpac_sample(anchor, meta, cfg, random.Random(3))["second_TCHW"])


def test_positive_distance_limit(one_long_video):
    from train.families.vimpac.partners import IndexedClip, choose_partner, shard_index

    raws = {r["__key__"]: r for r in (_raw(one_long_video, i) for i in range(7))}
    index = shard_index(raws["long_short_00000"]["__url__"])
    clips = index.clips("long", "short")
    assert [c.start for c in clips] == [0.0, 2.0, 4.0, 6.0, 8.0] and len(index.clips("long", "medium")) == 1
    span, rng = 0.3, random.Random(0)
    anywhere = [choose_partner(1.0, clips, span, None, rng)[1] for _ in range(2000)]
    assert min(anywhere) < 0.2 and max(anywhere) > 9.5  # the whole video: starts 0 .. 10 - span
    assert sum(anywhere) / len(anywhere) == pytest.approx(9.7 / 2, abs=0.25)
    near = [choose_partner(1.0, clips, span, 1.5, rng) for _ in range(500)]
    assert all(abs(start - 1.0) <= 1.5 for _, start in near)
    assert {c.start for c, _ in near} == {0.0, 2.0}  # crosses into the next clip, no further
    assert {choose_partner(1.0, clips, span, 0.0, rng) for _ in range(20)} == {(clips[0], 1.0)}
    # d_max = 0 through the sample: the positive is the anchor's own window
    raw = raws["long_short_00002"]
    cfg = _loader_cfg(vimpac_tiny().replace(positive_max_distance=0.0))
    for seed in range(5):
        out = vimpac_sample(raw, json.loads(raw["json"]), cfg, random.Random(seed))
        assert torch.equal(out["frames_TCHW"], out["second_TCHW"])
    assert vimpac_tiny().positive_max_distance is None  # the paper's default: no limit
    with pytest.raises(ValueError, match="positive_max_distance"):
        vimpac_tiny().replace(positive_max_distance=-1.0)
    assert isinstance(clips[0], IndexedClip)


def test_positive_codes_come_from_the_whole_video(one_long_video, tmp_path):
    from train.families.vimpac.precompute import main

    torch.manual_seed(0)
    torch.save(DalleEncoder(16, 1, 8192).state_dict(), tmp_path / "dvae.pt")
    main(
        [
            "--shards",
            str(one_long_video),
            "--output",
            str(tmp_path / "coded"),
            "--dvae-weights",
            str(tmp_path / "dvae.pt"),
            "--image-size",
            "64",
            "--short-side",
            "96",
            "--fps",
            "10",
        ]
    )
    coded = tmp_path / "coded_root"
    (coded / "shards").mkdir(parents=True)
    for tar in (tmp_path / "coded").glob("*.tar"):
        tar.rename(coded / "shards" / tar.name)
    raws = {r["__key__"]: r for r in (_raw(coded, i) for i in range(7))}
    codes = {k: torch.from_numpy(np.load(io.BytesIO(r["codes.npy"])).astype(np.int64)) for k, r in raws.items()}
    anchor = raws["long_short_00000"]
    cfg = _loader_cfg(vimpac_tiny())
    partners = set()
    for seed in range(30):
        out = vimpac_sample({**anchor, "mp4": b"not decoded"}, json.loads(anchor["json"]), cfg, random.Random(seed))
        window = out["second_codes_THW"]
        found = [k for k, c in codes.items() if any(torch.equal(window, c[s : s + 4]) for s in range(len(c) - 3))]
        assert len(found) == 1
        partners.add(found[0])
    assert len(partners) >= 3 and partners <= {f"long_short_{i:05d}" for i in range(5)}

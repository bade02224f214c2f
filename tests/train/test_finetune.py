"""Fine-tuning on a benchmark (VidLA appendix A.2): a 4-frame tiny run fine-tuned at 8 frames on a
generated MSR-VTT-shaped and DiDeMo-shaped training split, through ``python -m train fit --dataset``."""

import dataclasses
import json
import tarfile

import pytest
import torch
from factories import benchmark_args, finetune_args, last_json_line, write_didemo, write_msrvtt_1ka

from train import checkpoint as ckpt
from train.__main__ import main
from train.data.shards import ClipLoaderConfig, prepare_sample
from train.eval import load_eval_model
from train.model import build_model
from train.registry import model_preset


def _moment(frame: float, num_frames: int) -> float:
    """The moment of the clip (0..1) frame ``frame`` of ``num_frames`` shows: the centre of its segment."""
    return (frame + 0.5) / num_frames


def test_temporal_embedding_is_interpolated_to_the_moments_frames_show(one_step_run):
    source = ckpt.load_checkpoint(one_step_run)["model"]["vision_model.embeddings.temporal_embedding"]  # (4, D)
    model = build_model(model_preset("vidla-tiny-cpu").replace(num_frames=7, mst_reference_frames=4))
    report = ckpt.init_weights_from(model, one_step_run)
    assert not report["left_at_init"]
    resized = model.vision_model.embeddings.temporal_embedding.detach()
    assert resized.shape == (7, source.shape[1])
    for j in range(7):  # new frame j shows moment (j + 1/2) / 7: between the old frames around it
        position = min(3.0, max(0.0, _moment(j, 7) * 4 - 0.5))  # in old frames
        low = int(position)
        high, w = min(low + 1, 3), position - low
        torch.testing.assert_close(resized[j], (1 - w) * source[low] + w * source[high], rtol=0, atol=1e-6)


def test_12_frame_checkpoint_on_32_frames_keeps_mst_levels_and_temporal_positions_on_their_moments(tmp_path):
    """VidLA fine-tunes its 12-frame pretraining on 32 frames (appendix A.2): each [MST] level attends
    the 32-frame frames nearest the moments it attended on 12, and those frames carry the temporal
    embedding of their moment."""
    from train.model.attention import TokenLayout

    torch.manual_seed(0)
    pretrained = build_model(model_preset("vidla-tiny-cpu").replace(num_frames=12))
    moments12 = torch.tensor([_moment(k, 12) for k in range(12)])
    table = pretrained.vision_model.embeddings.temporal_embedding
    with torch.no_grad():  # an embedding linear in the moment it marks: interpolation must keep it so
        table.copy_(moments12[:, None].expand_as(table))
    torch.save({"model": pretrained.state_dict()}, tmp_path / "step_1.pt")
    cfg = model_preset("vidla-tiny-cpu").replace(num_frames=32, mst_reference_frames=12)
    finetuned = build_model(cfg)
    ckpt.init_weights_from(finetuned, str(tmp_path / "step_1.pt"))
    embedding32 = finetuned.vision_model.embeddings.temporal_embedding.detach()[:, 0]
    moments32 = torch.tensor([_moment(j, 32) for j in range(32)])
    inside = (moments32 >= moments12[0]) & (moments32 <= moments12[-1])
    torch.testing.assert_close(embedding32[inside], moments32[inside], rtol=0, atol=1e-6)
    torch.testing.assert_close(embedding32[~inside], moments32[~inside].clamp(moments12[0], moments12[-1]))
    layout12, layout32 = (
        TokenLayout(t, 1, cfg.num_levels, cfg.tokens_per_level, cfg.temporal_scale, reference_frames=12)
        for t in (12, 32)
    )
    for level, (frames12, frames32) in enumerate(zip(layout12.level_frames("cpu"), layout32.level_frames("cpu"))):
        seen12, seen32 = moments12[frames12], moments32[frames32]
        assert len(seen32) == len(seen12) if level else len(seen32) == 32
        if level:  # the same moments, each within half a 32-frame step
            assert (seen32 - seen12).abs().max() <= 0.5 / 32 + 1e-9
            # and the temporal embedding there is that of the moment the level learned to summarise
            torch.testing.assert_close(embedding32[frames32], seen12, rtol=0, atol=0.5 / 32 + 1e-6)


def test_finetune_preset_is_the_appendix_recipe(tiny_shards):
    """Appendix A.2: 32 frames, lr 1e-5 decayed to 1e-6 by cosine annealing, weight decay 0.2, centre crop
    (no multi-scale crop); the frames a fine-tuning sample gets are the eval ones, epoch after epoch."""
    from train.config import get_preset, model_config
    from train.fit import lr_factor
    from train.registry import load

    for name, batch in (("vidla-b32-finetune", 128), ("vidla-b16-finetune", 196)):
        cfg = get_preset(name)
        mcfg = model_config(cfg)
        assert (mcfg.num_frames, mcfg.mst_reference_frames, cfg.batch_size) == (32, 12, batch)
        assert (cfg.weight_decay, cfg.lr_schedule, cfg.train_crop, cfg.flip) == (0.2, "cosine", "center", False)
        assert lr_factor(0, cfg) * cfg.lr == pytest.approx(1e-5)
        assert lr_factor(cfg.steps, cfg) * cfg.lr == pytest.approx(1e-6)
    raw = {
        "__key__": "k",
        "mp4": (tiny_shards / "media" / "v000.mp4").read_bytes(),
        "json": json.dumps({"subtitle": "one"}).encode(),
    }
    loader = ClipLoaderConfig(
        batch_size=1,
        num_frames=4,
        image_size=32,
        train=True,
        decode_short_side=64,
        train_crop="center",
        flip=False,
        model_config=model_preset("vidla-tiny-cpu"),
    )
    sample_fn = load(loader.sample)
    evaluated = prepare_sample(raw, dataclasses.replace(loader, train=False), 0, sample_fn)["tensors"]["frames_TCHW"]
    for epoch in range(3):
        trained = prepare_sample(raw, loader, epoch, sample_fn)["tensors"]["frames_TCHW"]
        assert torch.equal(trained, evaluated)
    multiscale = [
        prepare_sample(raw, dataclasses.replace(loader, train_crop="multiscale"), e, sample_fn) for e in range(3)
    ]
    assert any(not torch.equal(m["tensors"]["frames_TCHW"], evaluated) for m in multiscale)


def test_finetune_on_an_msrvtt_shaped_split_then_eval_at_8_frames(one_step_run, tiny_shards, tmp_path, capsys):
    videos = tiny_shards / "media"  # v000.mp4 ... v007.mp4
    ids = [f"v{i:03d}" for i in range(6)] + ["v999"]  # v999 is not on disk
    ann = write_msrvtt_1ka(
        tmp_path / "train.csv",
        [v for v in ids for _ in range(2)],
        [f"{c} {v}" for v in ids for c in ("red circle", "a dog runs")],
    )
    run = tmp_path / "ft"
    argv = finetune_args(
        run,
        one_step_run,
        "msrvtt",
        ann,
        videos,
        "--steps",
        "2",
        "--batch-size",
        "3",
        "model.num_frames=8",
        "model.mst_reference_frames=4",
    )
    assert main(argv) == 0
    assert last_json_line(capsys)["step"] == 2
    # one sample per local video, both captions kept for the per-epoch draw
    with tarfile.open(run / "benchmark" / "shards" / "00000.tar") as tar:
        metas = [json.loads(tar.extractfile(m).read()) for m in tar.getmembers() if m.name.endswith(".json")]
    assert len(metas) == 6 and all(len(m["texts"]) == 2 for m in metas)
    state = ckpt.load_checkpoint(run)
    assert state["model_config"]["num_frames"] == 8 and state["model_config"]["mst_reference_frames"] == 4
    em = load_eval_model(str(run))
    assert em.num_frames == 8
    test_ann = write_msrvtt_1ka(tmp_path / "test.csv", ["v006", "v007"], ["blue boat", "green tree"])
    assert main(["eval", "--checkpoint", str(run), *benchmark_args("msrvtt", test_ann, videos)]) == 0
    assert last_json_line(capsys)["num_videos"] == 2
    # a resume trains on the same shards (written once)
    before = (run / "benchmark" / "clips.parquet").stat().st_mtime_ns
    assert main([*argv, "--resume", "--steps", "3"]) == 0
    assert (run / "benchmark" / "clips.parquet").stat().st_mtime_ns == before


def test_didemo_trains_paragraph_to_video_by_default(one_step_run, tiny_shards, tmp_path, capsys):
    ann = write_didemo(
        tmp_path / "train_data.json",
        ["v000.mp4", "v001.mp4"],
        [["a red circle", "then a dog"], ["a blue boat", "on the river"]],
    )
    run = tmp_path / "ft"
    argv = finetune_args(run, one_step_run, "didemo", ann, tiny_shards / "media", "--steps", "1", "--batch-size", "2")
    assert main(argv) == 0
    with tarfile.open(run / "benchmark" / "shards" / "00000.tar") as tar:
        texts = sorted(
            json.loads(tar.extractfile(m).read())["texts"][0] for m in tar.getmembers() if m.name.endswith(".json")
        )
    assert texts == ["a blue boat on the river", "a red circle then a dog"]
    assert main(["fit", "--config", "tiny-cpu", "--dataset", "didemo", "--output", str(tmp_path / "x")]) == 2
    assert "--annotations and --videos" in capsys.readouterr().err


def test_each_epoch_draws_one_of_a_videos_captions(tiny_shards):
    video = (tiny_shards / "media" / "v000.mp4").read_bytes()
    raw = {
        "__key__": "k",
        "mp4": video,
        "json": json.dumps({"subtitle": "one", "texts": ["one", "two", "three"]}).encode(),
    }
    cfg = ClipLoaderConfig(
        batch_size=1,
        num_frames=2,
        image_size=32,
        train=True,
        decode_short_side=64,
        model_config=model_preset("vidla-tiny-cpu"),
        sample="train.data.samples:frames_sample",
    )
    from train.registry import load

    sample_fn = load(cfg.sample)
    drawn = [prepare_sample(raw, cfg, epoch, sample_fn)["subtitle"] for epoch in range(12)]
    assert set(drawn) == {"one", "two", "three"}
    assert drawn == [prepare_sample(raw, cfg, epoch, sample_fn)["subtitle"] for epoch in range(12)]
    # evaluation keeps the first caption
    assert prepare_sample(raw, dataclasses.replace(cfg, train=False), 5, sample_fn)["subtitle"] == "one"

"""Fine-tuning on a benchmark (VidLA appendix A.2): a 4-frame tiny run fine-tuned at 8 frames on a
generated MSR-VTT-shaped and DiDeMo-shaped training split, through ``python -m train fit --dataset``."""

import dataclasses
import json
import tarfile

import torch
from train_factories import last_json_line, write_didemo, write_msrvtt_1ka

from train import checkpoint as ckpt
from train.__main__ import main
from train.data.shards import ClipLoaderConfig, prepare_sample
from train.eval import load_eval_model
from train.model import build_model
from train.registry import model_preset


def test_temporal_embedding_is_interpolated_for_more_frames(one_step_run):
    source = ckpt.load_checkpoint(one_step_run)["model"][
        "vision_model.embeddings.temporal_embedding"
    ]  # (4, D)
    model = build_model(model_preset("vidla-tiny-cpu").replace(num_frames=7, mst_reference_frames=4))
    report = ckpt.init_weights_from(model, one_step_run)
    assert not report["left_at_init"]
    resized = model.vision_model.embeddings.temporal_embedding.detach()
    assert resized.shape == (7, source.shape[1])
    # 4 -> 7 frames, ends aligned: new frame 2 sits at old position 1, frame 1 halfway between 0 and 1
    torch.testing.assert_close(resized[[0, 2, 4, 6]], source, rtol=0, atol=1e-6)
    torch.testing.assert_close(resized[1], (source[0] + source[1]) / 2, rtol=0, atol=1e-6)


def test_finetune_on_an_msrvtt_shaped_split_then_eval_at_8_frames(
    one_step_run, tiny_shards, tmp_path, capsys
):
    videos = tiny_shards / "media"  # v000.mp4 ... v007.mp4
    ids = [f"v{i:03d}" for i in range(6)] + ["v999"]  # v999 is not on disk
    ann = write_msrvtt_1ka(
        tmp_path / "train.csv",
        [v for v in ids for _ in range(2)],
        [f"{c} {v}" for v in ids for c in ("red circle", "a dog runs")],
    )
    run = tmp_path / "ft"
    argv = [
        "fit",
        "--config",
        "tiny-cpu",
        "--dataset",
        "msrvtt",
        "--annotations",
        str(ann),
        "--videos",
        str(videos),
        "--output",
        str(run),
        "--steps",
        "2",
        "--batch-size",
        "3",
        "--no-progress",
        f"init_from={one_step_run}",
        f"tokenizer={one_step_run / 'tokenizer'}",
        "model.num_frames=8",
        "model.mst_reference_frames=4",
    ]
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
    assert (
        main(
            [
                "eval",
                "--checkpoint",
                str(run),
                "--dataset",
                "msrvtt",
                "--annotations",
                str(test_ann),
                "--videos",
                str(videos),
            ]
        )
        == 0
    )
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
    argv = [
        "fit",
        "--config",
        "tiny-cpu",
        "--dataset",
        "didemo",
        "--annotations",
        str(ann),
        "--videos",
        str(tiny_shards / "media"),
        "--output",
        str(run),
        "--steps",
        "1",
        "--batch-size",
        "2",
        "--no-progress",
        f"init_from={one_step_run}",
        f"tokenizer={one_step_run / 'tokenizer'}",
    ]
    assert main(argv) == 0
    with tarfile.open(run / "benchmark" / "shards" / "00000.tar") as tar:
        texts = sorted(
            json.loads(tar.extractfile(m).read())["texts"][0]
            for m in tar.getmembers()
            if m.name.endswith(".json")
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

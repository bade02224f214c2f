"""End to end through the real entry point: fit on tiny shards, then every eval mode."""

import json
import math

import pytest
from factories import benchmark_args, fit_args, last_json_line, write_msrvtt_1ka

import train.families.vidla.objectives
from train.__main__ import main
from train.objectives import Contrastive


@pytest.fixture(scope="module")
def tiny_run(tiny_shards, tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    shards = tiny_shards / "shards" / "{00000..00001}.tar"
    assert main(fit_args(shards, run, "--steps", "3", "--batch-size", "3", "checkpoint_every=2")) == 0
    return run


def test_fit_writes_checkpoints_metrics_tensorboard_and_tokenizer(tiny_run):
    assert sorted(p.name for p in (tiny_run / "checkpoints").iterdir()) == [
        "step_00000002.pt",
        "step_00000003.pt",
    ]
    records = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]
    assert all(math.isfinite(r["loss"]) and r["loss"] > 0 for r in records)
    assert records[0]["lr"] == pytest.approx(1e-4 / 2)  # warm-up over 2 steps
    assert list((tiny_run / "tensorboard").glob("events.out.tfevents.*"))
    assert (tiny_run / "tokenizer" / "tokenizer.json").exists()


def test_eval_on_shards_prints_one_json_with_and_without_dsl(tiny_run, tiny_shards, capsys, caplog):
    assert main(["eval", "--checkpoint", str(tiny_run), "--shards", str(tiny_shards), "--dsl"]) == 0
    result = last_json_line(capsys)
    assert "retrieval over 7 videos: recall is not meaningful below 100" in caplog.text
    # clip 2 has no subtitle: 8 clips, 7 subtitle queries, 7 videos ranked video-to-text
    assert (result["num_videos"], result["num_texts"]) == (7, 7)
    for direction in ("t2v", "v2t", "t2v_dsl", "v2t_dsl"):
        m = result[direction]
        assert 0 <= m["R@1"] <= m["R@5"] <= m["R@10"] == 100.0
        assert 1 <= m["MdR"] <= 7 and 1 <= m["MnR"] <= 7
    assert main(["eval", "--checkpoint", str(tiny_run), "--shards", str(tiny_shards), "--text", "caption"]) == 0
    assert last_json_line(capsys)["num_texts"] == 7  # clip 1 has no caption
    assert main(["eval", "--checkpoint", str(tiny_run), "--shards", str(tiny_shards), "--mode", "paragraph"]) == 0
    assert last_json_line(capsys)["mode"] == "paragraph"


def test_eval_on_a_benchmark_and_multiple_choice(tiny_run, tiny_shards, tmp_path, capsys):
    videos = tiny_shards / "media"  # v000.mp4 ... v007.mp4
    ann = write_msrvtt_1ka(
        tmp_path / "MSRVTT_JSFUSION_test.csv",
        ["v000", "v001", "v002", "v404"],
        ["red circle", "a dog runs", "blue boat", "missing"],
    )
    checkpoint = tiny_run / "checkpoints" / "step_00000003.pt"
    assert main(["eval", "--checkpoint", str(checkpoint), *benchmark_args("msrvtt", ann, videos)]) == 0
    result = last_json_line(capsys)
    assert (result["num_videos"], result["num_texts"], result["missing_videos"]) == (3, 3, 1)
    mc = tmp_path / "MSR_MC_test.csv"
    mc.write_text(
        "key\tvid_key\ta1\ta2\ta3\ta4\ta5\tanswer\n"
        + "".join(f"q{i}\tv00{i}\tred\tgreen\tblue\tdog\tcat\t{i}\n" for i in range(4))
    )
    assert main(["eval", "--checkpoint", str(tiny_run), "--multiple-choice", str(mc), "--videos", str(videos)]) == 0
    result = last_json_line(capsys)
    assert result["num_questions"] == 4 and result["accuracy"] in (0.0, 25.0, 50.0, 75.0, 100.0)


def test_user_errors_exit_2_with_a_message(tiny_shards, tmp_path, capsys):
    assert main(fit_args(tmp_path / "none-{0..1}.tar", tmp_path / "r")) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["eval", "--checkpoint", str(tmp_path), "--shards", str(tiny_shards)]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    argv = ["fit", "--config", "vidla-tiny-cpuu", "--shards", str(tiny_shards), "--output", str(tmp_path / "r")]
    assert main(argv) == 2
    assert "unknown config 'vidla-tiny-cpuu'; did you mean 'vidla-tiny-cpu'?" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # an abbreviation is no option: --shard is not --shards
        main(["eval", "--checkpoint", str(tmp_path), "--shard", str(tiny_shards)])
    assert "one of the arguments --shards" in capsys.readouterr().err


def test_nan_guard_skips_the_step_and_training_goes_on(tiny_shards, tmp_path, monkeypatch, capsys):
    real = train.families.vidla.objectives.VIDEO_TEXT
    calls = []

    def loss_with_a_nan(features, ctx):
        calls.append(1)
        losses = real.loss(features, ctx)
        if len(calls) == 2:  # step 2 (one loss over both micro-batches: grad_accum uses GradCache)
            losses["caption"] = losses["caption"] * float("nan")
        return losses

    monkeypatch.setattr(train.families.vidla.objectives, "VIDEO_TEXT", Contrastive(real.features, loss_with_a_nan))
    run = tmp_path / "run"
    assert main(fit_args(tiny_shards, run, "--steps", "3", "--batch-size", "2", "grad_accum=2")) == 0
    summary = last_json_line(capsys)
    assert summary["nan_skips"] == 1 and math.isfinite(summary["loss"])
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["nan_skips"] for r in records] == [0, 1, 1]
    assert math.isnan(records[1]["loss"])


@pytest.mark.slow
def test_compiled_training_step_gives_the_same_losses(tiny_shards, tmp_path):
    def losses(run, *extra):
        shards = tiny_shards / "shards" / "{00000..00001}.tar"
        assert main(fit_args(shards, run, "--steps", "2", "--batch-size", "3", "log_every=1", *extra)) == 0
        return [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]

    eager = losses(tmp_path / "eager")
    compiled = losses(tmp_path / "compiled", "compile=true")
    assert compiled == pytest.approx(eager, rel=1e-3)


def test_fit_trains_past_a_truncated_shard_and_takes_a_quoted_glob(tiny_shards, tmp_path, capsys):
    """A truncated tar among the shards: the tokenizer pre-pass (tiny-cpu trains its own BPE on the shard
    texts) and the loader both skip what cannot be read, and training goes on."""
    import shutil

    shards = tmp_path / "shards"
    shutil.copytree(tiny_shards / "shards", shards)
    whole = (shards / "00001.tar").read_bytes()
    (shards / "00001.tar").write_bytes(whole[: len(whole) // 3])
    args = ["fit", "--config", "tiny-cpu", "--shards", str(shards / "*.tar"), "--output", str(tmp_path / "run")]
    assert main(args + ["--steps", "2", "--batch-size", "2", "--no-progress"]) == 0
    summary = last_json_line(capsys)
    assert summary["step"] == 2 and summary["skipped_samples"].get("unreadable_shard", 0) >= 1

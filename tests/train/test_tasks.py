"""``python -m train eval --task NAME``: the papers' downstream evaluations from local files, one JSON
object each (train/tasks.py)."""

import json

import pytest
import torch
from train_factories import last_json_line, make_clip_video, write_activitynet

from train.__main__ import main


def test_tasks_are_listed_and_check_their_options(one_step_run, capsys):
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    out = capsys.readouterr().out
    for name in ("zero-shot-classification", "multiple-choice", "long-video-retrieval", "action-linear-probe",
                 "action-finetune", "video-qa", "retrieval-finetune"):
        assert name in out
    assert main(["eval", "--checkpoint", str(one_step_run), "--task", "long-video-retrieval"]) == 2
    assert "needs --benchmark --annotations --videos" in capsys.readouterr().err
    assert main(["eval", "--checkpoint", str(one_step_run), "--task", "nope"]) == 2
    assert "unknown task" in capsys.readouterr().err


def test_vidla_tasks_are_the_zero_shot_and_multiple_choice_evaluations(one_step_run, tmp_path, capsys):
    from train import datasets
    from train.eval import evaluate_multiple_choice, load_eval_model

    videos = tmp_path / "videos"
    videos.mkdir()
    for i in range(3):
        make_clip_video(videos / f"video{i}.mp4", variant=i)
    (tmp_path / "mc.jsonl").write_text("".join(
        json.dumps({"video": f"video{i}", "options": ["a red circle", "a dog runs", "blue boat"], "answer": i}) + "\n"
        for i in range(3)))
    argv = ["eval", "--checkpoint", str(one_step_run), "--task", "multiple-choice", "--annotations",
            str(tmp_path / "mc.jsonl"), "--videos", str(videos)]
    assert main(argv) == 0
    result = last_json_line(capsys)
    em = load_eval_model(str(one_step_run))
    expected = evaluate_multiple_choice(em, datasets.load_multiple_choice(tmp_path / "mc.jsonl", videos))
    assert result["task"] == "multiple-choice" and result["accuracy"] == pytest.approx(expected["accuracy"])
    assert result["protocol"].startswith("VidLA")
    (tmp_path / "labels.csv").write_text("video,label\n" + "".join(f"video{i},{c}\n" for i, c in
                                                                   enumerate(("red", "green", "blue"))))
    assert main(["eval", "--checkpoint", str(one_step_run), "--task", "zero-shot-classification", "--annotations",
                 str(tmp_path / "labels.csv"), "--videos", str(videos)]) == 0
    result = last_json_line(capsys)
    assert (result["task"], result["num_classes"], result["num_templates"]) == ("zero-shot-classification", 3, 28)


@pytest.fixture(scope="module")
def longvideo_run(tiny_shards, tmp_path_factory):
    run = tmp_path_factory.mktemp("longvideo_run")
    assert main(["fit", "--config", "longvideo-tiny-cpu", "--shards", str(tiny_shards), "--output", str(run),
                 "--steps", "1", "--batch-size", "2", "--no-progress"]) == 0
    return run


def test_long_video_retrieval_at_one_fps(longvideo_run, tmp_path, capsys):
    from train import datasets
    from train.data.decode import decode_sampled_frames
    from train.data.transforms import center_crop
    from train.eval import _VideoFiles, evaluate_retrieval_set, load_eval_model, with_num_frames

    videos = tmp_path / "videos"
    videos.mkdir()
    for i in range(3):  # 12 s at 10 FPS
        make_clip_video(videos / f"v_{i}.mp4", variant=i, seconds=12.0, fps=10)
    ann = write_activitynet(tmp_path / "val_1.json", [f"v_{i}" for i in range(3)],
                            [["a red circle", "then a dog"], ["a blue boat"], ["green tree", "on the river"]])
    argv = ["eval", "--checkpoint", str(longvideo_run), "--task", "long-video-retrieval", "--benchmark",
            "activitynet", "--annotations", str(ann), "--videos", str(videos), "--num-frames", "8"]
    assert main(argv) == 0
    result = last_json_line(capsys)
    assert (result["num_frames"], result["fps"], result["mode"], result["num_videos"]) == (8, 1.0, "paragraph", 3)
    em = with_num_frames(load_eval_model(str(longvideo_run)), 8)
    data = datasets.load_activitynet(ann, videos, paragraph=True)
    assert result["t2v"] == pytest.approx(evaluate_retrieval_set(em, data, False)["t2v"])
    # the frames it embeds: seconds 0..7 from the beginning, the frame at k + 1/2 s (index 10k + 5)
    loader = em.loader_config()
    _, sample = _VideoFiles([str(videos / "v_0.mp4")], loader)[0]
    expected = center_crop(torch.from_numpy(decode_sampled_frames(
        str(videos / "v_0.mp4"), 8, short_side=loader.decode_short_side, indices=[10 * k + 5 for k in range(8)])
    ).permute(0, 3, 1, 2), loader.image_size)
    assert torch.equal(sample["frames_TCHW"], expected)
    # the default is the paper's 128 frames (a 12 s video: each second repeated)
    assert main(argv[:-2]) == 0 and last_json_line(capsys)["num_frames"] == 128

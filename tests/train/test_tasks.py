"""``python -m train eval --task NAME``: the papers' downstream evaluations from local files, one JSON
object each (train/tasks.py)."""

import json

import pytest
import torch
from factories import last_json_line, make_clip_video, make_clip_videos, train_one_step, write_activitynet

from train.__main__ import main


def test_tasks_are_listed_and_check_their_options(one_step_run, capsys):
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    out = capsys.readouterr().out
    for name in (
        "zero-shot-classification",
        "multiple-choice",
        "long-video-retrieval",
        "action-linear-probe",
        "action-finetune",
        "video-qa",
        "retrieval-finetune",
    ):
        assert name in out
    assert main(["eval", "--checkpoint", str(one_step_run), "--task", "long-video-retrieval"]) == 2
    assert "needs --benchmark --annotations --videos" in capsys.readouterr().err
    assert main(["eval", "--checkpoint", str(one_step_run), "--task", "nope"]) == 2
    assert "unknown task 'nope'; tasks: ['action-finetune'" in capsys.readouterr().err


def test_a_task_the_family_does_not_list_is_refused_naming_the_families_and_tasks(one_step_run, tmp_path, capsys):
    """Eval asks the family (Family.tasks) which tasks it supports; a VidLA run is not a VIMPAC model."""
    (tmp_path / "a.txt").write_text("")
    args = [
        "--layout",
        "ucf101",
        "--annotations",
        str(tmp_path / "a.txt"),
        "--train-annotations",
        str(tmp_path / "a.txt"),
        "--videos",
        str(tmp_path),
    ]
    assert main(["eval", "--checkpoint", str(one_step_run), "--task", "action-linear-probe", *args]) == 2
    assert (
        "--task action-linear-probe does not evaluate a vidla model (it evaluates vimpac); the tasks of vidla: "
        "zero-shot-classification, multiple-choice"
    ) in capsys.readouterr().err


def test_every_family_lists_known_tasks_and_a_scoring():
    from train.registry import SCORINGS, Family, families, get_family
    from train.tasks import TASKS

    for family in families().values():
        assert set(family.tasks) <= set(TASKS) and family.scoring in SCORINGS
    assert {n for n, f in families().items() if f.supports("zero-shot-classification")} == {
        "vidla",
        "hdvila",
        "longvideo",
        "evilm",
    }
    with pytest.raises(ValueError, match=r"unknown model family 'nope'; registered: \['evilm', "):
        get_family("nope")
    vidla = get_family("vidla")
    with pytest.raises(ValueError, match="unknown task"):
        Family(**{**vidla.__dict__, "tasks": ("nope",)})
    with pytest.raises(ValueError, match="scoring 'x' is not one of"):
        Family(**{**vidla.__dict__, "scoring": "x"})


def test_vidla_tasks_are_the_zero_shot_and_multiple_choice_evaluations(one_step_run, tmp_path, capsys):
    from train import datasets
    from train.eval import evaluate_multiple_choice, load_eval_model

    videos = make_clip_videos(tmp_path / "videos", 3)
    (tmp_path / "mc.jsonl").write_text(
        "".join(
            json.dumps({"video": f"video{i}", "options": ["a red circle", "a dog runs", "blue boat"], "answer": i})
            + "\n"
            for i in range(3)
        )
    )
    argv = [
        "eval",
        "--checkpoint",
        str(one_step_run),
        "--task",
        "multiple-choice",
        "--annotations",
        str(tmp_path / "mc.jsonl"),
        "--videos",
        str(videos),
    ]
    assert main(argv) == 0
    result = last_json_line(capsys)
    em = load_eval_model(str(one_step_run))
    expected = evaluate_multiple_choice(em, datasets.load_multiple_choice(tmp_path / "mc.jsonl", videos))
    assert result["task"] == "multiple-choice" and result["accuracy"] == pytest.approx(expected["accuracy"])
    assert result["protocol"].startswith("VidLA")
    (tmp_path / "labels.csv").write_text(
        "video,label\n" + "".join(f"video{i},{c}\n" for i, c in enumerate(("red", "green", "blue")))
    )
    assert (
        main(
            [
                "eval",
                "--checkpoint",
                str(one_step_run),
                "--task",
                "zero-shot-classification",
                "--annotations",
                str(tmp_path / "labels.csv"),
                "--videos",
                str(videos),
            ]
        )
        == 0
    )
    result = last_json_line(capsys)
    assert (result["task"], result["num_classes"], result["num_templates"]) == ("zero-shot-classification", 3, 28)
    # appendix D's 32 frames of the 4-frame model: its temporal table interpolated, [MST] levels on 4's moments
    from train.families.vidla.model import at_frames as vidla_at_frames
    from train.zeroshot import evaluate_zero_shot, read_templates

    at32 = vidla_at_frames(em, 32)
    assert result["num_frames"] == 32 and at32.model_config.mst_reference_frames == 4
    assert at32.model.vision_model.embeddings.temporal_embedding.shape[0] == 32
    expected = evaluate_zero_shot(
        at32, datasets.load_classification(tmp_path / "labels.csv", videos), read_templates(None)
    )
    assert result["top1"] == pytest.approx(expected["top1"])


@pytest.fixture(scope="module")
def longvideo_run(tiny_shards, tmp_path_factory):
    return train_one_step(tiny_shards, tmp_path_factory.mktemp("longvideo_run"), "longvideo-tiny-cpu")


def test_long_video_retrieval_at_one_fps(longvideo_run, tmp_path, capsys):
    from train import datasets
    from train.data.decode import decode_sampled_frames
    from train.data.transforms import center_crop
    from train.eval import _VideoFiles, evaluate_retrieval_set, load_eval_model, with_num_frames

    videos = make_clip_videos(tmp_path / "videos", 3, "v_{}", seconds=12.0, fps=10)  # 12 s at 10 FPS
    ann = write_activitynet(
        tmp_path / "val_1.json",
        [f"v_{i}" for i in range(3)],
        [["a red circle", "then a dog"], ["a blue boat"], ["green tree", "on the river"]],
    )
    argv = [
        "eval",
        "--checkpoint",
        str(longvideo_run),
        "--task",
        "long-video-retrieval",
        "--benchmark",
        "activitynet",
        "--annotations",
        str(ann),
        "--videos",
        str(videos),
        "--num-frames",
        "8",
    ]
    assert main(argv) == 0
    result = last_json_line(capsys)
    assert (result["num_frames"], result["fps"], result["mode"], result["num_videos"]) == (8, 1.0, "paragraph", 3)
    em = with_num_frames(load_eval_model(str(longvideo_run)), 8)
    data = datasets.load_activitynet(ann, videos, paragraph=True)
    assert result["t2v"] == pytest.approx(evaluate_retrieval_set(em, data, False)["t2v"])
    # the frames it embeds: seconds 0..7 from the beginning, the frame at k + 1/2 s (index 10k + 5)
    loader = em.loader_config()
    _, sample = _VideoFiles([str(videos / "v_0.mp4")], loader)[0]
    expected = center_crop(
        torch.from_numpy(
            decode_sampled_frames(
                str(videos / "v_0.mp4"), 8, short_side=loader.decode_short_side, indices=[10 * k + 5 for k in range(8)]
            )
        ).permute(0, 3, 1, 2),
        loader.image_size,
    )
    assert torch.equal(sample["frames_TCHW"], expected)
    # the default is the paper's 128 frames (a 12 s video: each second repeated)
    assert main(argv[:-2]) == 0 and last_json_line(capsys)["num_frames"] == 128


# --- VIMPAC: action classification ---------------------------------------------------------------

ACTIONS = {"Bars": 2, "Cells": 5, "Pattern": 0}  # class -> the test source its videos show


@pytest.fixture(scope="module")
def ucf101(tmp_path_factory):
    """A UCF101-layout dataset: videos/<Class>/v_<Class>_gNN_c01.mp4, trainlist01.txt, testlist01.txt."""
    root = tmp_path_factory.mktemp("ucf101")
    train, test = [], []
    for label, (name, variant) in enumerate(sorted(ACTIONS.items()), start=1):
        (root / "videos" / name).mkdir(parents=True)
        for group in range(6):
            video = f"v_{name}_g{group:02d}_c01"
            make_clip_video(root / "videos" / name / f"{video}.mp4", variant=variant, seconds=2.0 + 0.2 * group)
            (train if group < 4 else test).append(f"{name}/{video}.avi" + (f" {label}" if group < 4 else ""))
    (root / "trainlist01.txt").write_text("\r\n".join(train) + "\r\n")
    (root / "testlist01.txt").write_text("\r\n".join(test) + "\r\n")
    return root


@pytest.fixture(scope="module")
def vimpac_run(tiny_shards, tmp_path_factory):
    return train_one_step(tiny_shards, tmp_path_factory.mktemp("vimpac_run"), "vimpac-tiny-cpu")


def test_action_layouts(ucf101, tmp_path):
    from train import datasets

    train = datasets.load_action_split("ucf101", ucf101 / "trainlist01.txt", ucf101 / "videos", "train")
    test = datasets.load_action_split("ucf101", ucf101 / "testlist01.txt", ucf101 / "videos", "test")
    assert train.class_names == test.class_names == ("Bars", "Cells", "Pattern")
    assert len(train.video_paths) == 12 and len(test.video_paths) == 6 and not test.missing
    assert [train.class_names[i] for i in train.labels[:4]] == ["Bars"] * 4
    # HMDB51: one split file per class, 1 = train, 2 = test, 0 = unused
    splits = tmp_path / "splits"
    splits.mkdir()
    (splits / "brush_hair_test_split1.txt").write_text("a.avi 1 \nb.avi 2 \nc.avi 0 \n")
    (splits / "cartwheel_test_split1.txt").write_text("d.avi 2 \n")
    (tmp_path / "hmdb").mkdir()
    for name in "abcd":
        make_clip_video(tmp_path / "hmdb" / f"{name}.mp4")
    hmdb_test = datasets.load_action_split("hmdb51", splits, tmp_path / "hmdb", "test")
    assert (hmdb_test.video_ids, hmdb_test.class_names) == (("b", "d"), ("brush_hair", "cartwheel"))
    assert datasets.load_action_split("hmdb51", splits, tmp_path / "hmdb", "train").video_ids == ("a",)
    # Something-Something v2: the class is the template without brackets; videos <id>.webm
    (tmp_path / "ssv2.json").write_text(
        json.dumps(
            [
                {"id": "a", "template": "Pushing [something] from left to right", "label": "pushing a cup ..."},
                {"id": "zz", "template": "Lifting [something] up"},
            ]
        )
    )
    ssv2 = datasets.load_action_split("ssv2", tmp_path / "ssv2.json", tmp_path / "hmdb")
    assert ssv2.class_names == ("Lifting something up", "Pushing something from left to right")
    assert ssv2.missing == ("zz",) and ssv2.labels == (1,)
    aligned = datasets.align_classes(ssv2, hmdb_test)
    assert aligned[0].class_names == aligned[1].class_names and len(aligned[0].class_names) == 4
    assert aligned[1].labels == (2, 3)  # brush_hair, cartwheel after the two (capitalised) SSv2 classes


def test_action_views_follow_the_protocol(ucf101):
    from train import datasets
    from train.families.vimpac.downstream import ActionClips, clip_windows

    data = datasets.load_action_split("ucf101", ucf101 / "testlist01.txt", ucf101 / "videos", "test")
    # 2 FPS of a 10 FPS video: every 5th frame
    windows = clip_windows(data.video_paths[0], 3, 2.0, 64, lambda n, span: [0, n - span])
    full = clip_windows(data.video_paths[0], 11, 10.0, 64, lambda n, span: [0])[0]
    assert torch.equal(windows[0], full[[0, 5, 10]])
    test_views, label = ActionClips(data, 4, 48, 2.0, train=False)[0]
    assert test_views.shape == (30, 4, 3, 48, 48) and label == data.labels[0]  # 10 windows x 3 crops
    train_view, _ = ActionClips(data, 4, 48, 2.0, train=True)[0]
    assert train_view.shape == (1, 4, 3, 48, 48)


def test_vimpac_linear_probe_and_finetune(vimpac_run, ucf101, tmp_path, capsys):
    common = [
        "eval",
        "--checkpoint",
        str(vimpac_run),
        "--layout",
        "ucf101",
        "--videos",
        str(ucf101 / "videos"),
        "--train-annotations",
        str(ucf101 / "trainlist01.txt"),
        "--annotations",
        str(ucf101 / "testlist01.txt"),
        "--batch-size",
        "4",
    ]
    assert main([*common, "--task", "action-linear-probe"]) == 0
    probe = last_json_line(capsys)
    assert (probe["num_videos"], probe["train_videos"], probe["num_classes"]) == (6, 12, 3)
    assert probe["top1"] == 100.0  # each class is one picture: even random features separate them
    run = tmp_path / "ft"
    assert (
        main(
            [
                *common,
                "--task",
                "action-finetune",
                "--run-dir",
                str(run),
                "--num-frames",
                "6",
                "--image-size",
                "96",
                "--epochs",
                "2",
            ]
        )
        == 0
    )
    result = last_json_line(capsys)
    assert (result["num_frames"], result["image_size"], result["views"], result["fps"]) == (6, 96, 30, 2.0)
    assert result["steps"] == 2 and result["num_videos"] == 6 and 0 <= result["top1"] <= 100  # 12 clips a step
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(history) == 2 and history[0]["loss"] == pytest.approx(torch.log(torch.tensor(3.0)).item())  # zero FC
    state = torch.load(run / "finetuned.pt", weights_only=False)
    assert state["model"]["pos_t"].shape[0] == 6 and state["model"]["pos_h"].shape[0] == 12  # interpolated
    assert state["class_names"] == ["Bars", "Cells", "Pattern"]


# --- E-ViLM: open-ended video question answering -------------------------------------------------


@pytest.fixture(scope="module")
def evilm_run(tiny_shards, tmp_path_factory):
    return train_one_step(tiny_shards, tmp_path_factory.mktemp("evilm_run"), "evilm-tiny-cpu")


def test_video_qa_fine_tunes_an_answer_head(evilm_run, tmp_path, capsys):
    from train.families.evilm.downstream import answer_vocabulary

    videos = make_clip_videos(tmp_path / "videos", 4)
    colours = ["red", "green", "blue", "red"]
    train = [{"video_id": i, "question": "what colour is it?", "answer": colours[i]} for i in range(4)]
    train.append({"video_id": 1, "question": "what is shown?", "answer": "a rare answer"})
    (tmp_path / "train_qa.json").write_text(json.dumps(train))
    test = [{"video_id": i, "question": "what colour is it?", "answer": a} for i, a in ((0, "red"), (2, "purple"))]
    test.append({"video_id": 9, "question": "what?", "answer": "red"})  # no such video
    (tmp_path / "test_qa.json").write_text(json.dumps(test))
    run = tmp_path / "qa"
    assert (
        main(
            [
                "eval",
                "--checkpoint",
                str(evilm_run),
                "--task",
                "video-qa",
                "--train-annotations",
                str(tmp_path / "train_qa.json"),
                "--annotations",
                str(tmp_path / "test_qa.json"),
                "--videos",
                str(videos),
                "--run-dir",
                str(run),
                "--epochs",
                "3",
                "--batch-size",
                "5",
            ]
        )
        == 0
    )
    result = last_json_line(capsys)
    assert (result["num_questions"], result["missing_videos"], result["answer_vocabulary"]) == (2, 1, 4)
    assert result["test_answers_in_vocabulary"] == 50.0 and result["accuracy"] in (0.0, 50.0)  # "purple": wrong
    assert result["steps"] == 3 and result["train_questions"] == 5
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(history) == 3 and history[-1]["loss"] < history[0]["loss"]
    assert torch.load(run / "finetuned.pt", weights_only=False)["answers"][0] == "red"  # most frequent first
    assert answer_vocabulary(["b", "a", "b", "c", "a", "b"], 2) == ("b", "a")


# --- HD-VILA: retrieval fine-tuning ---------------------------------------------------------------


def test_hdvila_retrieval_finetune(hdvila_shards, tmp_path, capsys):
    from factories import write_msrvtt_1ka

    from train import datasets
    from train.checkpoint import load_checkpoint
    from train.config import TrainConfig
    from train.eval import evaluate_retrieval_set, load_eval_model
    from train.families.hdvila import STAGE2_PARAMETERS
    from train.fit import lr_factor

    stage1 = train_one_step(hdvila_shards, tmp_path / "stage1", "hdvila-tiny-cpu")
    # 8 s each: 2 segments of 3 s cover half of one
    videos = make_clip_videos(tmp_path / "videos", 5, seconds=8.0, width=192, height=128)
    train = write_msrvtt_1ka(
        tmp_path / "train.csv",
        [f"video{i}" for i in range(3) for _ in range(2)],
        [f"{c} {i}" for i in range(3) for c in ("a red circle", "a dog runs")],
    )
    test = write_msrvtt_1ka(tmp_path / "test.csv", ["video3", "video4"], ["blue boat", "green tree"])
    run = tmp_path / "ft"
    assert (
        main(
            [
                "eval",
                "--checkpoint",
                str(stage1),
                "--task",
                "retrieval-finetune",
                "--benchmark",
                "msrvtt",
                "--train-annotations",
                str(train),
                "--annotations",
                str(test),
                "--videos",
                str(videos),
                "--run-dir",
                str(run),
                "--epochs",
                "2",
                "--batch-size",
                "2",
            ]
        )
        == 0
    )
    result = last_json_line(capsys)
    assert (result["train_segments"], result["eval_segments"], result["num_videos"]) == (1, 2, 2)
    assert (result["steps"], result["lr"], result["lr_schedule"]) == (3, 5e-6, "step")  # 2 epochs of 3 videos, 2 a step
    tuned = load_checkpoint(run / "finetune")
    cfg = TrainConfig.from_dict(tuned["config"])
    assert cfg.init_from == str(stage1) and cfg.freeze == STAGE2_PARAMETERS and cfg.lr == 5e-6
    assert [lr_factor(s, cfg.replace(steps=8)) for s in (0, 4, 6)] == pytest.approx([1.0, 0.1, 0.01])
    before = load_checkpoint(stage1)["model"]
    assert not torch.equal(tuned["model"]["video_projection.weight"], before["video_projection.weight"])
    from fnmatch import fnmatchcase

    multimodal = [k for k in before if any(fnmatchcase(k, p) for p in STAGE2_PARAMETERS)]
    assert multimodal and all(torch.equal(tuned["model"][k], before[k]) for k in multimodal)  # kept frozen
    # the reported numbers are the fine-tuned model's at twice the segments
    em = load_eval_model(run / "finetune")
    import dataclasses

    em = dataclasses.replace(em, model_config=em.model_config.replace(num_segments=2))
    expected = evaluate_retrieval_set(em, datasets.load_msrvtt(test, videos), False)
    assert result["t2v"] == pytest.approx(expected["t2v"])

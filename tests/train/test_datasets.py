"""Annotation loaders of the retrieval benchmarks, on small files in each real format."""

import json

import pytest
from factories import write_activitynet, write_didemo, write_msrvtt_1ka, write_msvd, write_vatex

from train.datasets import LOADERS, AnnotationError, load_multiple_choice


@pytest.fixture
def videos(tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in [
        "video7010.mp4",
        "video7011.mp4",
        "10015567@N08_3655084291_d8b58466fa.mp4",
        "v_abc.mp4",
        "def.mkv",
        "-4wsuPCjDBc_5_15.avi",
        "Ptf_2VRj-V0_000122_000132.mp4",
    ]:
        (folder / name).write_bytes(b"not decoded by the loaders")
    return folder


def test_msrvtt_1ka(tmp_path, videos):
    ann = write_msrvtt_1ka(
        tmp_path / "MSRVTT_JSFUSION_test.csv",
        ["video7010", "video7011", "video9999"],
        ["a man cooks", "a dog runs", "missing"],
    )
    data = LOADERS["msrvtt"](ann, videos)
    assert data.video_ids == ("video7010", "video7011")
    assert data.texts == ("a man cooks", "a dog runs") and data.video_of_text == (0, 1)
    assert data.missing == ("video9999",)
    assert data.video_paths[0].endswith("video7010.mp4")


def test_didemo_paragraphs_join_the_moments_of_a_video(tmp_path, videos):
    ann = write_didemo(
        tmp_path / "test_data.json",
        ["10015567@N08_3655084291_d8b58466fa.mov", "gone.mov"],
        [["the girl waves.", "she jumps."], ["x"]],
    )
    data = LOADERS["didemo"](ann, videos)
    assert data.video_ids == ("10015567@N08_3655084291_d8b58466fa",)
    assert data.texts == ("the girl waves. she jumps.",) and data.missing == ("gone.mov",)
    sentences = LOADERS["didemo"](ann, videos, paragraph=False)
    assert sentences.texts == ("the girl waves.", "she jumps.") and sentences.video_of_text == (0, 0)


def test_activitynet_with_and_without_the_v_prefix(tmp_path, videos):
    ann = write_activitynet(
        tmp_path / "val_1.json",
        ["v_abc", "v_def", "v_zzz"],
        [["A man is seen.", "He talks."], ["Kids play."], ["none"]],
    )
    data = LOADERS["activitynet"](ann, videos)
    assert data.video_ids == ("v_abc", "def")
    assert data.texts == ("A man is seen. He talks.", "Kids play.")
    assert data.video_paths[1].endswith("def.mkv") and data.missing == ("v_zzz",)


def test_msvd_keeps_english_and_the_split(tmp_path, videos):
    ann = write_msvd(
        tmp_path / "MSR Video Description Corpus.csv",
        [("-4wsuPCjDBc", 5, 15), ("abc", 1, 2)],
        [["a cat plays", "a kitten plays"], ["gone"]],
    )
    data = LOADERS["msvd"](ann, videos)
    assert data.video_ids == ("-4wsuPCjDBc_5_15",)
    assert data.texts == ("a cat plays", "a kitten plays") and data.video_of_text == (0, 0)
    split = tmp_path / "test_list.txt"
    split.write_text("abc_1_2\n")
    with pytest.raises(AnnotationError, match="none of the 1 annotated videos"):
        LOADERS["msvd"](ann, videos, split=str(split))


def test_vatex(tmp_path, videos):
    ann = write_vatex(
        tmp_path / "vatex_public_test_english_v1.1.json",
        ["Ptf_2VRj-V0_000122_000132"],
        [[f"caption {i}" for i in range(10)]],
    )
    data = LOADERS["vatex"](ann, videos)
    assert len(data.texts) == 10 and set(data.video_of_text) == {0}


def test_wrong_format_is_a_clear_error(tmp_path, videos):
    bad = tmp_path / "val_1.json"
    bad.write_text(json.dumps([{"video": "x"}]))
    with pytest.raises(AnnotationError, match="ActivityNet"):
        LOADERS["activitynet"](bad, videos)
    csv_file = tmp_path / "MSRVTT_JSFUSION_test.csv"
    csv_file.write_text("a,b\n1,2\n")
    with pytest.raises(AnnotationError, match="expected columns"):
        LOADERS["msrvtt"](csv_file, videos)


def test_multiple_choice_jsfusion_csv_and_jsonl(tmp_path, videos):
    csv_file = tmp_path / "MSR_MC_test.csv"
    csv_file.write_text(
        "key\tvid_key\ta1\ta2\ta3\ta4\ta5\tanswer\n"
        "q0\tmsr7010\tone\ttwo\tthree\tfour\tfive\t2\n"
        "q1\tmsr4242\tone\ttwo\tthree\tfour\tfive\t0\n"
    )
    data = load_multiple_choice(csv_file, videos)
    assert data.video_ids == ("video7010",) and data.candidates[0][2] == "three" and data.answers == (2,)
    assert data.missing == ("video4242",)
    jsonl = tmp_path / "mc.jsonl"
    jsonl.write_text(json.dumps({"clip_name": "video7011", "options": ["a", "b"], "answer": 1}) + "\n")
    assert load_multiple_choice(jsonl, videos).answers == (1,)
    jsonl.write_text(json.dumps({"clip_name": "video7011", "options": ["a", "b"], "answer": 5}) + "\n")
    with pytest.raises(AnnotationError, match="not an index"):
        load_multiple_choice(jsonl, videos)

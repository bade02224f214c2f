"""The hierarchical test set (VidLA appendix H) and zero-shot classification (appendix D), end to end
through ``python -m curate hierarchical-testset`` and ``python -m train eval``."""

import tarfile

import pyarrow.parquet as pq
import pytest
import torch
from factories import last_json_line, make_clip, make_clip_video, sentence, write_shards

from curate.__main__ import main as curate_main
from schemas.records import clip_key
from train import datasets
from train.__main__ import main
from train.eval import EvalModel, embed_texts, embed_video_files, load_eval_model
from train.metrics import retrieval_metrics
from train.registry import get_family, model_preset
from train.tokenizer import load_tokenizer, tokenize
from train.zeroshot import KINETICS_TEMPLATES, evaluate_zero_shot, read_templates

# --- hierarchical test set ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def hierarchical_curation(tmp_path_factory):
    """A curation output: videos v0..v2 with a 40 s long clip each (40 sentences of 1 s, its own picture),
    v3 with a short clip only (no triplet)."""
    root = tmp_path_factory.mktemp("curation")
    samples = []
    for v in range(4):
        seconds = 40.0 if v < 3 else 1.6
        mp4 = make_clip_video(root / f"clip{v}.mp4", variant=v, seconds=seconds).read_bytes()
        subtitle = " ".join(sentence(50 * v + i) for i in range(int(seconds)))
        clip = make_clip(f"video{v}", 0, caption=sentence(v + 40), subtitle=subtitle, start=0.0, seconds=seconds)
        if v < 3:
            clip = clip._replace(scale="long", key=clip_key(f"video{v}", "long", 0))
        samples.append((clip, mp4))
    return write_shards(root, samples, per_shard=2)


def test_hierarchical_testset_and_eval_per_scale(one_step_run, hierarchical_curation, tmp_path, capsys):
    out = tmp_path / "testset"
    assert curate_main(["hierarchical-testset", str(hierarchical_curation), "--output", str(out)]) == 0
    triplets = pq.read_table(out / "triplets.parquet").to_pylist()
    assert [(t["video_id"], t["centre"]) for t in triplets] == [(f"video{v}", 20.0) for v in range(3)]
    clips = {c["key"]: c for c in pq.read_table(out / "clips.parquet").to_pylist()}
    assert len(clips) == 9 and {c["shard"] for c in clips.values()} == {"00000.tar"}
    for t in triplets:  # nested windows of whole sentences, centred on the long clip's centre
        short, medium, long = clips[t["short"]], clips[t["medium"]], clips[t["long"]]
        assert long["start"] <= medium["start"] <= short["start"] < short["end"] <= medium["end"] <= long["end"]
        assert 30.4 <= medium["duration"] < 32 and 13.2 <= short["duration"] < 15
        assert abs((short["start"] + short["end"]) / 2 - 20.0) <= t["offset"] <= 0.5 * short["duration"]
        assert short["subtitle"] == " ".join(s["text"] for s in short["sentences"])
        assert short["caption"] is None and long["caption"]
    with tarfile.open(out / "shards" / "00000.tar") as tar:
        names = tar.getnames()
    assert len(names) == 18 and "video0_long_00000-short.mp4" in names

    assert main(["eval", "--checkpoint", str(one_step_run), "--shards", str(out), "--hierarchical"]) == 0
    result = last_json_line(capsys)
    assert result["task"] == "hierarchical" and result["num_triplets"] == 3
    assert set(result["t2v_R@1"]) == {"short", "medium", "long"}

    # the same numbers from the test set's clip files, scale by scale (the long ones in worker processes)
    em = load_eval_model(str(one_step_run))
    for scale in ("short", "medium", "long"):
        keys = [t[scale] for t in triplets]
        workers = 2 if scale == "long" else 0
        video_feats, ok, _ = embed_video_files(em, [_source_path(out, k) for k in keys], num_workers=workers)
        assert ok == [0, 1, 2]
        text_feats = embed_texts(em, [clips[k]["subtitle"] for k in keys])
        expected = retrieval_metrics(text_feats @ video_feats.T, torch.arange(3))
        assert result[scale]["t2v"] == pytest.approx(expected["t2v"])
        assert result["t2v_R@1"][scale] == pytest.approx(expected["t2v"]["R@1"])


def _source_path(curation, key):
    """The mp4 of ``key`` in the curation's shards, written out to compare against."""
    path = curation / f"{key}.mp4"
    if not path.exists():
        shard = next(c["shard"] for c in pq.read_table(curation / "clips.parquet").to_pylist() if c["key"] == key)
        with tarfile.open(curation / "shards" / shard) as tar:
            path.write_bytes(tar.extractfile(f"{key}.mp4").read())
    return str(path)


def test_hierarchical_testset_errors(hierarchical_curation, tiny_shards, tmp_path, capsys):
    # tiny_shards has short clips only: no triplet, a clear error and exit 2
    assert curate_main(["hierarchical-testset", str(tiny_shards), "--output", str(tmp_path / "o")]) == 2
    assert "no long clip" in capsys.readouterr().err
    assert curate_main(["hierarchical-testset", str(tmp_path), "--output", str(tmp_path / "o")]) == 2
    assert "has no index (shards/*.parquet" in capsys.readouterr().err
    assert main(["eval", "--checkpoint", str(tmp_path), "--hierarchical", "--dataset", "msrvtt"]) == 2
    assert "--hierarchical needs --shards" in capsys.readouterr().err


# --- zero-shot classification ---------------------------------------------------------------------

COLOURS = ("red", "green", "blue")


@pytest.fixture(scope="module")
def kinetics_folder(tmp_path_factory):
    """Kinetics' layout: DIR/<label>/<youtube_id>_<start>_<end>.mp4 and a csv; one video is missing."""
    root = tmp_path_factory.mktemp("kinetics")
    rows = ["label,youtube_id,time_start,time_end,split"]
    for i, colour in enumerate(COLOURS * 2):
        (root / "videos" / colour).mkdir(parents=True, exist_ok=True)
        name = f"yt{i:03d}_{i * 10:06d}_{i * 10 + 10:06d}.mp4"
        make_clip_video(root / "videos" / colour / name, seconds=1, source=f"color=c={colour}:s=96x64")
        rows.append(f"{colour},yt{i:03d},{i * 10},{i * 10 + 10},val")
    rows.append("red,gone,0,10,val")
    (root / "val.csv").write_text("\n".join(rows) + "\n")
    return root


class ColourModel(torch.nn.Module):
    """Encodes a known signal: a video as the one-hot of its dominant colour channel, a text as the
    one-hot of the colour word in it (by token id)."""

    def __init__(self, tokenizer):
        super().__init__()
        empty = set(tokenize(tokenizer, [""], 16)[0][0].tolist())
        self.word_ids = [set(tokenize(tokenizer, [c], 16)[0][0].tolist()) - empty for c in COLOURS]
        assert all(self.word_ids), "every colour word needs its own token"

    def encode_video(self, frames_BTCHW):
        return torch.nn.functional.one_hot(frames_BTCHW.mean(dim=(1, 3, 4)).argmax(-1), 3).float()

    def encode_text(self, ids_BL, mask_BL):
        rows = [[float(bool(ids & set(row.tolist()))) for ids in self.word_ids] for row in ids_BL]
        return torch.nn.functional.normalize(torch.tensor(rows) + 1e-6, dim=-1)


def test_zero_shot_with_a_model_that_knows_the_colours_is_always_right(kinetics_folder, tiny_tokenizer):
    data = datasets.load_classification(kinetics_folder / "val.csv", kinetics_folder / "videos")
    assert data.class_names == ("blue", "green", "red") and data.missing == ("gone_000000_000010",)
    assert [data.class_names[i] for i in data.labels] == list(COLOURS * 2)
    tokenizer = load_tokenizer(str(tiny_tokenizer))
    mcfg = model_preset("vidla-tiny-cpu")
    em = EvalModel(ColourModel(tokenizer), tokenizer, 4, 64, 16, 96, torch.device("cpu"), get_family("vidla"), mcfg)
    result = evaluate_zero_shot(em, data, KINETICS_TEMPLATES)
    assert (result["top1"], result["top5"], result["num_videos"], result["missing_videos"]) == (
        100.0,
        100.0,
        6,
        1,
    )
    # the same model with the labels shuffled is wrong on every video
    wrong = data._replace(labels=tuple((i + 1) % 3 for i in data.labels))
    assert evaluate_zero_shot(em, wrong, ("a video of {}.",))["top1"] == 0.0


def test_zero_shot_cli_with_the_tiny_model(one_step_run, kinetics_folder, tmp_path, capsys):
    templates = tmp_path / "templates.txt"
    templates.write_text("a video of {}.\nsomething {} here\n")
    argv = [
        "eval",
        "--checkpoint",
        str(one_step_run),
        "--zero-shot",
        str(kinetics_folder / "val.csv"),
        "--videos",
        str(kinetics_folder / "videos"),
        "--templates",
        str(templates),
    ]
    assert main(argv) == 0
    result = last_json_line(capsys)
    assert (result["num_videos"], result["num_classes"], result["num_templates"]) == (6, 3, 2)
    assert result["top1"] * 6 / 100 == pytest.approx(round(result["top1"] * 6 / 100))  # k of 6 videos
    assert result["top5"] == 100.0  # three classes: the label is always among the top five
    templates.write_text("no placeholder\n")
    assert main(argv) == 2
    assert "exactly one {}" in capsys.readouterr().err


def test_label_files_flat_and_bad(tmp_path):
    (tmp_path / "v").mkdir()
    make_clip_video(tmp_path / "v" / "a.mp4", seconds=1, source="color=c=red:s=96x64")
    (tmp_path / "labels.jsonl").write_text('{"video": "a.mp4", "label": "red"}\n{"video": "b", "label": "blue"}\n')
    data = datasets.load_classification(tmp_path / "labels.jsonl", tmp_path / "v")
    assert (data.class_names, data.labels, data.missing) == (("blue", "red"), (1,), ("b",))
    (tmp_path / "bad.csv").write_text("name,class\na,red\n")
    with pytest.raises(datasets.AnnotationError, match="video,label"):
        datasets.load_classification(tmp_path / "bad.csv", tmp_path / "v")
    assert len(read_templates(None)) == 28

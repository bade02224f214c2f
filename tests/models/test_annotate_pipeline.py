"""AnnotateClips (cut + decode frames on the download's worker, caption, summarize, commit) in a Beam
TestPipeline over generated videos, with the tiny models from disk."""

import os
import pickle

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from factories import resume_sets

from curate.beam.models import FRAMES, AnnotateClips, CutAndDecodeFrames
from curate.media.cut import CutConfig
from curate.media.frames import decode_frames, plan_frames, read_keyframes
from curate.models.caption import Blip2Captioner, captioner_input_size
from curate.models.config import AnnotateConfig
from curate.models.summarize import captions_as_sentences
from curate.output import write
from samplemedia import make_sample_video, sentences_for
from schemas import Clip, Sentence, VideoMeta, clip_key

# VidLA's scales are ~13/30/60 s at 0.1 FPS; the tests use shorter windows at 0.2 FPS on shorter
# videos (the same frames per clip, half the media to generate)
SCALE_SECONDS = {"short": 7.0, "medium": 15.0, "long": 30.0}
FPS = 0.2
# exact cuts at a small size: the tests look at the metadata, cheap to encode
CUT = CutConfig(mode="reencode", short_side=64)
GPU_HINT = "type:nvidia-l4;count:1;install-nvidia-driver"


def clips_of(video, scales=("short", "medium", "long")) -> tuple:
    """Fixed-length windows of every scale over the video, with the truth sentences inside them."""
    clips = []
    for scale in scales:
        length = SCALE_SECONDS[scale]
        start, index = 0.0, 0
        while start + length <= video.duration + 1e-6 or index == 0:
            end = min(start + length, video.duration)
            sentences = tuple(
                Sentence(s.text, s.start, s.end, len(s.text.split())) for s in video.sentences if start <= s.start < end
            )
            subtitle = " ".join(s.text for s in sentences)
            clips.append(
                Clip(
                    clip_key(video.video_id, scale, index),
                    video.video_id,
                    scale,
                    index,
                    start,
                    end,
                    end - start,
                    subtitle,
                    sentences,
                    len(subtitle.split()),
                )
            )
            start, index = end, index + 1
    return tuple(clips)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("annotate-media")
    return [
        make_sample_video(root, "annot32", sentences_for(30, seed=11), min_duration=32),
        make_sample_video(root, "annot15", sentences_for(14, seed=12), min_duration=15, background="bikes"),
    ]


def _dump(elements, path):
    with open(path, "wb") as f:
        pickle.dump(sorted(elements), f)


def run_annotate(elements, config, out_dir):
    """Run AnnotateClips (cut + decode + caption + summarize + commit) with its outputs under out_dir;
    returns (staged videos, failures, captioner inferences), sorted."""
    p = BeamTestPipeline()
    staged, failures = p | beam.Create(elements) | AnnotateClips(config, str(out_dir), CUT)
    staged | "AllOk" >> beam.combiners.ToList() | "DumpOk" >> beam.Map(_dump, str(out_dir / "ok.pkl"))
    failures | "AllFailed" >> beam.combiners.ToList() | "DumpFailed" >> beam.Map(_dump, str(out_dir / "failed.pkl"))
    result = p.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_namespace("caption").with_name("num_inferences"))["counters"]
    loaded = [pickle.load(open(out_dir / name, "rb")) for name in ("ok.pkl", "failed.pkl")]
    return loaded[0], loaded[1], sum(c.committed for c in counters)


def test_captions_and_summaries_on_every_scale(videos, tiny_blip2, tiny_llama, tmp_path):
    elements = [
        (VideoMeta(v.video_id, "file://" + v.media_path, duration=v.duration, media_path=v.media_path), clips_of(v))
        for v in videos
    ]
    # the accelerator hint is Dataflow's to act on: this runner runs the same pipeline without it
    config = AnnotateConfig(
        caption_model=tiny_blip2,
        caption_fps=FPS,
        caption_batch_size=8,
        caption_max_new_tokens=8,
        summary_model=tiny_llama,
        summary_backend="transformers",
        summary_max_new_tokens=10,
        summary_batch_size=8,
        device="cpu",
        model_accelerator=GPU_HINT,
    )
    ok, failed, num_inferences = run_annotate(elements, config, tmp_path)
    assert failed == []
    assert sorted(v.video_id for v in ok) == ["annot15", "annot32"]
    # frame reuse: the captioner ran once per distinct frame time of each video, not once per clip frame
    planned = [plan_frames(clips, config.caption_fps) for _, clips in elements]
    distinct = sum(len(plan.times) for plan in planned)
    per_clip = sum(len(ts) for plan in planned for ts in plan.clip_times.values())
    assert num_inferences == distinct and per_clip >= 2 * distinct
    for video in ok:
        [source] = [c for m, c in elements if m.video_id == video.video_id]
        assert [c.key for c in video.clips] == [c.key for c in source]  # nothing dropped, order kept
        # committed: the manifest (what resume and the shard writer read) holds the annotations
        folder = write.staging_dir(str(tmp_path), video.video_id)
        assert write.load_staged_video(folder) == video
        assert all(
            os.path.getsize(os.path.join(folder, f"{c.key}.mp4")) == n for c, n in zip(video.clips, video.num_bytes)
        )
        caption_at = {}
        for clip in video.clips:
            assert clip.frame_times and list(clip.frame_times) == sorted(clip.frame_times)
            assert len(clip.frame_captions) == len(clip.frame_times)
            assert all(clip.start <= t < clip.end for t in clip.frame_times)
            for t, caption in zip(clip.frame_times, clip.frame_captions):
                assert caption.strip() and caption_at.setdefault(t, caption) == caption  # one caption per frame
            if clip.scale == "short":  # short clips keep their texts unsummarized (VidLA table 1)
                assert clip.caption == captions_as_sentences(clip.frame_captions)
                assert clip.subtitle_summary is None
            else:
                assert clip.caption and len(clip.caption.split()) <= config.summary_max_words
                assert clip.subtitle_summary and len(clip.subtitle_summary.split()) <= config.summary_max_words


def test_only_the_model_steps_ask_for_the_accelerator(videos, tiny_blip2, tiny_llama, tmp_path):
    """--model-accelerator: Dataflow's right fitting gives GPU workers to the steps whose environment
    carries the hint. The two RunInference steps must carry it; the download's worker steps (cut,
    decode) and the rest must not, or they would run on GPU workers too."""
    config = AnnotateConfig(
        caption_model=tiny_blip2,
        summary_model=tiny_llama,
        summary_backend="transformers",
        device="cpu",
        model_accelerator=GPU_HINT,
    )
    p = BeamTestPipeline()
    _ = p | beam.Create([]) | "Annotate" >> AnnotateClips(config, str(tmp_path), CUT)
    proto = p.to_runner_api()
    environments = proto.components.environments

    def hinted(transform) -> bool:
        hints = environments[transform.environment_id].resource_hints if transform.environment_id else {}
        return hints.get("beam:resources:accelerator:v1") == GPU_HINT.encode()

    leaves = [
        t for t in proto.components.transforms.values() if t.unique_name.startswith("Annotate/") and not t.subtransforms
    ]
    on_gpu = {t.unique_name for t in leaves if hinted(t)}
    assert on_gpu and all(
        name.startswith(("Annotate/CaptionClipFrames/Caption/", "Annotate/SummarizeClips/Summarize/"))
        for name in on_gpu
    ), on_gpu
    assert any("RunInference" in name and "Caption/" in name for name in on_gpu)
    assert any("RunInference" in name and "Summarize/" in name for name in on_gpu)
    assert any(t.unique_name.startswith("Annotate/CutAndDecodeFrames/") and not hinted(t) for t in leaves)
    with pytest.raises(ValueError, match="--model-accelerator is a Dataflow accelerator hint"):
        AnnotateConfig(model_accelerator="nvidia-l4")


@pytest.mark.parametrize("mode", ["keyframe", "exact"])
def test_captions_are_the_captioners_on_the_planned_frames(videos, tiny_blip2, tmp_path, mode):
    """What the stage writes is what BLIP-2 says of the frames at each clip's frame_times, decoded
    on their own; keyframe mode moves frames to keyframes (inside their cell and clips), exact mode
    keeps the grid."""
    elements = [
        (VideoMeta(v.video_id, "file://" + v.media_path, duration=v.duration, media_path=v.media_path), clips_of(v))
        for v in videos
    ]
    config = AnnotateConfig(
        caption_model=tiny_blip2, caption_fps=FPS, caption_max_new_tokens=8, device="cpu", caption_frames=mode
    )
    ok, failed, num_inferences = run_annotate(elements, config, tmp_path)
    assert failed == [] and len(ok) == 2
    captioner = Blip2Captioner.load(tiny_blip2, device="cpu", max_new_tokens=8)
    size = captioner_input_size(tiny_blip2)
    distinct, seen = 0, set()
    for video in ok:
        [(meta, source)] = [(m, c) for m, c in elements if m.video_id == video.video_id]
        keyframes = read_keyframes(meta.media_path)
        expected = plan_frames(source, FPS, keyframes if mode == "keyframe" else ())
        distinct += len(expected.times)
        times = sorted({t for clip in video.clips for t in clip.frame_times})
        assert times == list(expected.times)
        grid = plan_frames(source, FPS).times
        keys = {round(k, 3) for k in keyframes}
        if mode == "keyframe":
            assert set(times) <= keys | set(grid) and len(set(times) & keys) >= len(times) // 2
        else:
            assert tuple(times) == grid
        caption_at = dict(zip(times, captioner.caption([f for _, f in decode_frames(meta.media_path, times, size)])))
        seen |= set(caption_at.values())
        for clip in video.clips:
            assert clip.frame_times == expected.clip_times[clip.key]
            assert clip.frame_captions == tuple(caption_at[t] for t in clip.frame_times)
    assert num_inferences == distinct and len(seen) >= 2  # the captions tell frames apart


def test_worker_threads_of_one_machine_share_one_model(videos, tiny_blip2, tmp_path, monkeypatch):
    """One machine, one GPU: --direct_num_workers N --direct_running_mode multi_threading runs N
    threads that each cut and decode their own videos, and RunInference gives them one copy of the
    model between them (multi_processing would load one per process)."""
    import threading

    from apache_beam.options.pipeline_options import PipelineOptions

    from curate.beam import models

    loads, decoding_threads = [], set()
    load, after_cut = Blip2Captioner.load.__func__, models._CutAndDecode.after_cut
    monkeypatch.setattr(Blip2Captioner, "load", classmethod(lambda cls, *a, **k: loads.append(1) or load(cls, *a, **k)))
    monkeypatch.setattr(
        models._CutAndDecode,
        "after_cut",
        lambda self, meta, staged: (
            decoding_threads.add(threading.current_thread().name),
            after_cut(self, meta, staged),
        )[1],
    )
    elements = [
        (VideoMeta(f"{v.video_id}-{i}", "u", media_path=v.media_path), clips_of(v, ("short",)))
        for i in range(4)
        for v in videos
    ]
    config = AnnotateConfig(caption_model=tiny_blip2, caption_fps=FPS, caption_max_new_tokens=4, device="cpu")
    p = BeamTestPipeline(
        options=PipelineOptions(["--direct_num_workers", "2", "--direct_running_mode", "multi_threading"])
    )
    staged, failures = p | beam.Create(elements) | AnnotateClips(config, str(tmp_path), CUT)
    (
        staged
        | "Captions" >> beam.Map(lambda s: (s.video_id, all(c.frame_captions for c in s.clips)))
        | (beam.combiners.ToList())
        | beam.Map(_dump, str(tmp_path / "captioned.pkl"))
    )
    p.run().wait_until_finish()
    captioned = pickle.load(open(tmp_path / "captioned.pkl", "rb"))
    assert sorted(captioned) == sorted((meta.video_id, True) for meta, _ in elements)
    assert len(decoding_threads) == 2 and len(loads) == 1, (decoding_threads, loads)


def test_a_video_staged_but_not_annotated_is_redone_on_resume(videos, tmp_path):
    """What a run killed between staging and annotation leaves: clip files without a manifest. Resume
    must not put them into shards without captions: it removes them and redoes the video."""
    v = videos[1]
    p = BeamTestPipeline()
    cut = (
        p
        | beam.Create([(VideoMeta(v.video_id, "u", media_path=v.media_path), clips_of(v, ("short",)))])
        | CutAndDecodeFrames(str(tmp_path), CUT, None, FPS, (32, 32))
    )
    (
        cut[FRAMES]
        | "Shapes" >> beam.Map(lambda kv: kv[1].shape)
        | beam.combiners.ToList()
        | beam.Map(lambda shapes: _dump(shapes, str(tmp_path / "shapes.pkl")))
    )
    p.run().wait_until_finish()
    folder = write.staging_dir(str(tmp_path), v.video_id)
    assert any(name.endswith(".mp4") for name in os.listdir(folder))
    assert not os.path.exists(os.path.join(folder, write.MANIFEST))
    shapes = pickle.load(open(tmp_path / "shapes.pkl", "rb"))
    assert shapes and set(shapes) == {(32, 32, 3)}  # decoded at the captioner's input size
    skip, staged = resume_sets(str(tmp_path), [v.video_id])
    assert staged == {} and v.video_id not in skip
    assert not os.path.exists(folder)


def test_frames_go_out_in_their_own_videos_window(videos, tmp_path):
    """The decoder hands a video's frames on while later videos are processed, or at the bundle's
    end: each must still carry its own video's window, or a windowed join would lose it."""
    from apache_beam.transforms.window import FixedWindows, TimestampedValue

    elements = [(VideoMeta(v.video_id, "u", media_path=v.media_path), clips_of(v, ("short",))) for v in videos]
    starts = {v.video_id: 1000.0 * i for i, v in enumerate(videos)}
    p = BeamTestPipeline()
    cut = (
        p
        | beam.Create(elements)
        | beam.Map(lambda e: TimestampedValue(e, starts[e[0].video_id]))
        | beam.WindowInto(FixedWindows(100))
        | CutAndDecodeFrames(str(tmp_path), CUT, None, FPS, (32, 32))
    )

    def where(key, window=beam.DoFn.WindowParam):
        return key, window.start.micros // 1_000_000

    frames = cut[FRAMES] | "FrameWindows" >> beam.Map(lambda kv, w=beam.DoFn.WindowParam: where(kv[0][0], w))
    staged = cut.staged | "StagedWindows" >> beam.Map(lambda s, w=beam.DoFn.WindowParam: where(s.video_id, w))
    for name, pcoll in (("frames", frames), ("staged", staged)):
        (
            pcoll
            | f"Global{name}" >> beam.WindowInto(beam.window.GlobalWindows())
            | f"All{name}" >> beam.combiners.ToList()
            | f"Dump{name}" >> beam.Map(_dump, str(tmp_path / f"{name}.pkl"))
        )
    p.run().wait_until_finish()
    seen = {name: pickle.load(open(tmp_path / f"{name}.pkl", "rb")) for name in ("frames", "staged")}
    assert sorted(seen["staged"]) == sorted((v.video_id, int(starts[v.video_id])) for v in videos)
    assert {video_id for video_id, _ in seen["frames"]} == set(starts)
    assert all(start == int(starts[video_id]) for video_id, start in seen["frames"]), seen["frames"]


def test_bad_media_and_unusable_answers_become_failures(videos, tiny_blip2, tiny_llama_eos, tmp_path):
    good = videos[1]
    clips = clips_of(good, ("short",))
    beyond = Clip(
        clip_key(good.video_id, "short", 99),
        good.video_id,
        "short",
        99,
        good.duration + 20,
        good.duration + 27,
        7.0,
        "after the end",
        (),
        3,
    )
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x01 not a video" * 500)
    elements = [
        (VideoMeta(good.video_id, "u", media_path=good.media_path), clips + (beyond,)),
        (
            VideoMeta("garbage", "u", media_path=str(garbage)),
            (clips[0]._replace(video_id="garbage", key=clip_key("garbage", "short", 0)),),
        ),
    ]
    out = tmp_path / "captions"
    out.mkdir()
    ok, failed, _ = run_annotate(
        elements, AnnotateConfig(caption_model=tiny_blip2, caption_fps=FPS, caption_max_new_tokens=6, device="cpu"), out
    )
    assert [(v.video_id, [c.key for c in v.clips]) for v in ok] == [(good.video_id, [c.key for c in clips])]
    assert all(c.frame_captions for c in ok[0].clips)  # the good clips go on
    # a span past the end cannot be cut (so it is never captioned); an unreadable video fails whole
    assert sorted((f.video_id, f.key, f.stage) for f in failed) == [
        ("annot15", beyond.key, "cut"),
        ("garbage", "", "cut"),
    ]
    assert not os.path.exists(write.staging_dir(str(out), "garbage"))

    # an LLM that answers nothing: every summary is a Failure, no clip gets an empty string, and a video
    # left with no clip is not committed
    medium = clips_of(good, ("medium",))
    out = tmp_path / "summaries"
    out.mkdir()
    ok, failed, _ = run_annotate(
        [(VideoMeta(good.video_id, "u", media_path=good.media_path), medium)],
        AnnotateConfig(summary_model=tiny_llama_eos, summary_backend="transformers", device="cpu"),
        out,
    )
    assert ok == []
    assert [(f.key, f.stage, f.reason) for f in failed] == [(c.key, "summarize", "summary_empty") for c in medium]
    assert not os.path.exists(write.staging_dir(str(out), good.video_id))


def test_annotate_needs_a_model(tmp_path):
    with pytest.raises(ValueError, match="--caption-model or --summary-model"):
        AnnotateClips(AnnotateConfig(), str(tmp_path), CUT)


def test_a_model_error_fails_its_batch_clips_not_the_pipeline(videos, tiny_blip2, tiny_llama, tmp_path, monkeypatch):
    from curate.models.caption import Blip2Captioner
    from curate.models.summarize import TransformersSummarizer

    def out_of_memory(self, batch):
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(Blip2Captioner, "caption", out_of_memory)
    v = videos[1]
    clips = clips_of(v, ("short",))
    element = (VideoMeta(v.video_id, "u", media_path=v.media_path), clips)
    out = tmp_path / "captions"
    out.mkdir()
    ok, failed, _ = run_annotate(
        [element], AnnotateConfig(caption_model=tiny_blip2, caption_fps=FPS, device="cpu"), out
    )
    assert ok == []
    assert sorted(f.key for f in failed) == sorted(c.key for c in clips)
    assert all(
        f.reason == "no_frames" and "captioner failed on a batch" in f.detail and "simulated" in f.detail
        for f in failed
    )

    monkeypatch.setattr(TransformersSummarizer, "summarize", out_of_memory)
    medium = clips_of(v, ("medium",))
    out = tmp_path / "summaries"
    out.mkdir()
    ok, failed, _ = run_annotate(
        [(element[0], medium)],
        AnnotateConfig(summary_model=tiny_llama, summary_backend="transformers", device="cpu"),
        out,
    )
    assert ok == []
    assert [(f.key, f.stage, f.reason) for f in failed] == [(c.key, "summarize", "summarizer_error") for c in medium]

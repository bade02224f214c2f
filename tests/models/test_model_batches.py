"""How the model stages batch their work: the summarizer gets a bundle's prompts in one call (what
vLLM schedules best) and the transformers backend pads prompts of similar length together; frames
stream from the decoder to the captioner, and the download stays until the last one is decoded."""

import os
import shutil

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from curate.beam.models import FRAME_ERRORS, FRAMES, CutAndDecodeFrames, SummarizeClips, _AttachSummaries
from curate.media.cut import CutConfig
from curate.media.download import DownloadConfig, video_dir
from curate.media.frames import plan_frames, read_keyframes
from curate.models.config import AnnotateConfig, device_batch_size
from curate.models.summarize import TransformersSummarizer, summary_jobs, summary_prompt
from curate.output.write import StagedVideo
from schemas import Clip, VideoMeta, clip_key

TEXTS = (
    "A man cooks.",
    "Two dogs run on a beach. The sun sets over the sea. A child is riding a bike.",
    "A woman is walking near the river.",
    "The old fisherman repaired the wooden boat.",
    "People standing in a park. A group of people is talking. Music is playing on a stage.",
)


def test_transformers_pads_prompts_of_similar_length_together(tiny_llama):
    summarizer = TransformersSummarizer.load(tiny_llama, device="cpu", max_new_tokens=6, batch_size=2)
    passes = []
    generate = summarizer.generate
    summarizer.generate = lambda prompts: passes.append([len(p) for p in prompts]) or generate(prompts)
    prompts = [summary_prompt(t) for t in TEXTS]
    answers = summarizer.summarize(prompts)
    assert [len(p) for p in passes] == [2, 2, 1]
    lengths = [n for p in passes for n in p]
    assert lengths == sorted(lengths)  # shortest first: each batch pads to about its own length
    # in the order of the prompts, and what each prompt answers alone
    assert answers == [summarizer.summarize([p])[0] for p in prompts]
    assert device_batch_size("summary", "cpu") == TransformersSummarizer.load(tiny_llama, device="cpu").batch_size


def _clips(video_id, n):
    subtitle = "The old fisherman repaired the wooden boat before the sun came up."
    return tuple(
        Clip(
            clip_key(video_id, "medium", i),
            video_id,
            "medium",
            i,
            30.0 * i,
            30.0 * i + 30,
            30.0,
            " ".join([subtitle] * (1 + i % 3)),
            (),
            12 * (1 + i % 3),
            frame_captions=("a man is cooking fish", "two dogs on a beach")[: 1 + i % 2],
        )
        for i in range(n)
    )


def test_summarize_stage_hands_a_bundle_to_the_model_in_one_call(tiny_llama, tmp_path):
    videos = [
        StagedVideo(video_id, clips, (0,) * len(clips))
        for video_id, clips in (("vid1", _clips("vid1", 7)), ("vid2", _clips("vid2", 3)), ("vid3", ()))
    ]
    config = AnnotateConfig(
        summary_model=tiny_llama,
        summary_backend="transformers",
        summary_max_new_tokens=8,
        summary_batch_size=3,
        device="cpu",
    )
    p = BeamTestPipeline()
    summarized, failures = p | beam.Create(videos) | SummarizeClips(config)
    summarizer = TransformersSummarizer.load(tiny_llama, device="cpu", max_new_tokens=8)
    jobs = [job for v in videos for job in summary_jobs(v.clips, config.summary_max_words)]
    answers = summarizer.summarize([prompt for _, _, prompt in jobs])
    expected = sorted((key, field, " ".join(answer.split())) for (key, field, _), answer in zip(jobs, answers))
    rows = summarized | beam.FlatMap(
        lambda v: [(c.key, f, getattr(c, f)) for c in v.clips for f in ("caption", "subtitle_summary")]
    )
    assert_that(rows, equal_to(expected))
    assert_that(summarized | beam.Map(lambda v: v.video_id), equal_to(["vid1", "vid2", "vid3"]), label="AllVideos")
    assert_that(failures, equal_to([]), label="NoFailures")
    result = p.run()
    result.wait_until_finish()
    [videos_per_call] = result.metrics().query(
        MetricsFilter().with_namespace("summarize").with_name("inference_request_batch_size")
    )["distributions"]
    # one summarizer call for the three videos, i.e. for all their 20 prompts
    assert (videos_per_call.committed.count, videos_per_call.committed.sum) == (1, 3) and len(jobs) == 20


def test_a_failed_summarizer_call_drops_the_clips_it_had_to_summarize():
    """What RunInference's dead letters hold when the summarizer raises: (the call's videos, error)."""
    clips = _clips("vid", 2) + (
        Clip(
            clip_key("vid", "short", 0), "vid", "short", 0, 0.0, 10.0, 10.0, "a man", (), 2, caption="a man is cooking."
        ),
    )
    out = list(
        _AttachSummaries(25).process(
            ([StagedVideo("vid", clips, (1, 2, 3))], MemoryError("out of memory")), failed_call=True
        )
    )
    [video] = [o for o in out if isinstance(o, StagedVideo)]
    failures = [o.value for o in out if not isinstance(o, StagedVideo)]
    assert [c.key for c in video.clips] == [clips[2].key] and video.num_bytes == (3,)
    assert sorted(f.key for f in failures) == sorted(c.key for c in clips[:2])
    assert all(f.reason == "summarizer_error" and "out of memory" in f.detail for f in failures)


def test_frames_stream_and_the_download_goes_after_the_last(sample_video, tmp_path):
    download = DownloadConfig(output_dir=str(tmp_path / "downloads"))
    folder = video_dir(download, "vid")
    os.makedirs(folder)
    media = shutil.copy(sample_video.media_path, folder / "vid.mp4")
    clips = tuple(
        Clip(clip_key("vid", "short", i), "vid", "short", i, 4.0 * i, 4.0 * i + 4, 4.0, "", (), 0) for i in range(5)
    )
    times = plan_frames(clips, 1.0, read_keyframes(str(media))).times
    # keyframes every 2 s: every other 1 s cell holds one, and its frame moves there
    assert sum(t != g for t, g in zip(times, plan_frames(clips, 1.0).times)) == 10
    p = BeamTestPipeline()
    cut = (
        p
        | beam.Create([(VideoMeta("vid", "u", media_path=str(media)), clips)])
        | CutAndDecodeFrames(str(tmp_path / "out"), CutConfig(mode="reencode", short_side=64), download, 1.0, (32, 32))
    )
    decoded = cut[FRAMES] | beam.MapTuple(lambda key, frame: (key[1], frame.shape))
    assert_that(decoded, equal_to([(t, (32, 32, 3)) for t in times]))
    assert_that(cut[FRAME_ERRORS], equal_to([]), label="NoFrameErrors")
    p.run().wait_until_finish()
    assert len(times) == 20 and not folder.exists()

"""The Beam wiring of the model stages (VidLA section 3): RunInference ModelHandlers around the
BLIP-2 captioner (curate.caption) and the LLM summarizer (curate.summarize), and the two transforms
that curate.annotate.AnnotateClips composes.

CaptionClipFrames: plan each video's frames on its grid (curate.frames), decode them, caption each
once, and give every clip of every scale the captions of its frames. SummarizeClips: one prompt per
summary a clip needs, answers cleaned, and brought back to their clips. Results travel keyed by
video id and are joined back to the video's (VideoMeta, tuple[Clip]) element (JoinToVideos).
"""
from __future__ import annotations

from typing import Optional

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, RunInference
from apache_beam.pvalue import TaggedOutput

from curate.annotate import AnnotateConfig
from curate.caption import Blip2Captioner, captioner_input_size
from curate.errors import StageError
from curate.frames import attach_frame_captions, decode_frames, plan_frames
from curate.stages import FAILURES
from curate.summarize import attach_summaries, clean_summary, load_summarizer, summary_jobs
from schemas import Failure

FRAME_ERRORS = "frame_errors"


class Blip2CaptionHandler(ModelHandler):
    """RunInference's view of the captioner: examples are RGB arrays, predictions caption strings."""

    def __init__(self, config: AnnotateConfig):
        # fixed-size batches: Beam's adaptive batching would start at 1 and grow slowly
        super().__init__(min_batch_size=config.caption_batch_size, max_batch_size=config.caption_batch_size)
        self._config = config

    def load_model(self) -> Blip2Captioner:
        c = self._config
        return Blip2Captioner.load(c.caption_model, device=c.device, dtype=c.dtype,
                                   max_new_tokens=c.caption_max_new_tokens, num_beams=c.caption_num_beams)

    def run_inference(self, batch, model: Blip2Captioner, inference_args: Optional[dict] = None):
        return model.caption(batch)

    def get_metrics_namespace(self) -> str:
        return "caption"


class SummaryHandler(ModelHandler):
    """RunInference's view of the summarizer: examples are prompts, predictions raw answers."""

    def __init__(self, config: AnnotateConfig):
        super().__init__(min_batch_size=config.summary_batch_size, max_batch_size=config.summary_batch_size)
        self._config = config

    def load_model(self):
        return load_summarizer(self._config)

    def run_inference(self, batch, model, inference_args: Optional[dict] = None):
        return model.summarize(batch)

    def get_metrics_namespace(self) -> str:
        return "summarize"


# ---------------------------------------------------------------------------------------------
# captions


class _DecodeFrames(beam.DoFn):
    """(meta, clips) -> ((video_id, t), frame) for each planned frame, or (video_id, (t, error))."""

    def __init__(self, fps: float, size: tuple):
        self._fps = fps
        self._size = size
        self._decoded = beam.metrics.Metrics.counter("caption", "frames_decoded")
        self._failed = beam.metrics.Metrics.counter("caption", "frames_undecodable")

    def process(self, video):
        meta, clips = video
        times = plan_frames(clips, self._fps).times
        if not times:
            return
        if not meta.media_path:
            frames = [(t, "the video has no media_path (not downloaded)") for t in times]
        else:
            frames = decode_frames(meta.media_path, times, self._size)
        for t, frame in frames:
            if isinstance(frame, str):
                self._failed.inc()
                yield TaggedOutput(FRAME_ERRORS, (meta.video_id, (t, frame)))
            else:
                self._decoded.inc()
                yield (meta.video_id, t), frame


def _failed_batch_errors(batch_and_exc):
    """RunInference's dead letters (a failed batch, its exception) -> one frame error per frame."""
    batch, exc = batch_and_exc
    detail = f"captioner failed on a batch of {len(batch)}: {type(exc).__name__}: {exc}"
    for (video_id, t), _ in batch:
        yield video_id, (t, detail)


class JoinToVideos(beam.PTransform):
    """Bring per-video results back to their video: ``{"name": PCollection[(video_id, result)], ...}``
    joined with the videos, then ``attach(video_id, clips, results_by_name) -> (clips, failures)``.
    Returns (PCollection[(VideoMeta, tuple[Clip])], PCollection[Failure])."""

    def __init__(self, stage: str, attach, results: dict, label: Optional[str] = None):
        super().__init__(label)
        self._stage = stage
        self._attach = attach
        self._results = results

    def expand(self, videos):
        keyed = videos | "KeyVideos" >> beam.Map(lambda v: (v[0].video_id, v))
        out = (
            {"video": keyed, **self._results}
            | "Join" >> beam.CoGroupByKey()
            | "Attach" >> beam.ParDo(_AttachToVideo(self._stage, self._attach)).with_outputs(FAILURES, main="videos")
        )
        return out.videos, out[FAILURES]


class _AttachToVideo(beam.DoFn):
    def __init__(self, stage: str, attach):
        self._stage = stage
        self._attach = attach

    def process(self, joined):
        video_id, groups = joined
        try:
            videos = list(groups.pop("video"))
            if len(videos) != 1:
                raise ValueError(f"video {video_id!r} reached the {self._stage} stage {len(videos)} times; "
                                 "video ids must be unique")
            meta, clips = videos[0]
            kept, failures = self._attach(video_id, clips, groups)
        except Exception as exc:  # noqa: BLE001 - never lose a video silently
            yield TaggedOutput(FAILURES, Failure(video_id, self._stage, f"error:{type(exc).__name__}", str(exc)))
            return
        for failure in failures:
            yield TaggedOutput(FAILURES, failure)
        yield meta, kept


def _attach_captions(fps: float):
    def attach(video_id, clips, groups):
        plan = plan_frames(clips, fps)
        return attach_frame_captions(video_id, clips, plan, dict(groups["captions"]), dict(groups["errors"]))

    return attach


class CaptionClipFrames(beam.PTransform):
    """``captioned, failures = videos | CaptionClipFrames(config)`` over (VideoMeta, tuple[Clip])."""

    def __init__(self, config: AnnotateConfig, label: Optional[str] = None):
        super().__init__(label)
        self._config = config
        # Frames are decoded straight to the captioner's input size: small elements, one resize.
        self._size = captioner_input_size(config.caption_model)

    def expand(self, videos):
        fps = self._config.caption_fps
        decoded = videos | "DecodeFrames" >> beam.ParDo(_DecodeFrames(fps, self._size)).with_outputs(
            FRAME_ERRORS, main="frames")
        captioned, dead = (
            decoded.frames
            | "Caption" >> RunInference(KeyedModelHandler(Blip2CaptionHandler(self._config))).with_exception_handling()
        )
        captions = captioned | "ByVideo" >> beam.MapTuple(lambda key, text: (key[0], (key[1], text)))
        batch_errors = dead.failed_inferences | "BatchErrors" >> beam.FlatMap(_failed_batch_errors)
        errors = (decoded[FRAME_ERRORS], batch_errors) | "AllFrameErrors" >> beam.Flatten()
        return videos | "AttachCaptions" >> JoinToVideos(
            "caption", _attach_captions(fps), {"captions": captions, "errors": errors})


# ---------------------------------------------------------------------------------------------
# summaries


def _jobs(video, max_words: int):
    meta, clips = video
    for key, field, prompt in summary_jobs(clips, max_words):
        yield (meta.video_id, key, field), prompt


def _clean(keyed_answer, max_words: int):
    (video_id, key, field), raw = keyed_answer
    try:
        return video_id, (key, field, clean_summary(raw, max_words), None)
    except StageError as exc:
        return video_id, (key, field, None, (exc.reason, exc.detail))


def _failed_batch_answers(batch_and_exc):
    batch, exc = batch_and_exc
    detail = f"summarizer failed on a batch of {len(batch)}: {type(exc).__name__}: {exc}"
    for (video_id, key, field), _ in batch:
        yield video_id, (key, field, None, ("summarizer_error", detail))


def _attach_answers(video_id, clips, groups):
    return attach_summaries(video_id, clips, groups["answers"])


class SummarizeClips(beam.PTransform):
    """``summarized, failures = videos | SummarizeClips(config)`` over (VideoMeta, tuple[Clip])."""

    def __init__(self, config: AnnotateConfig, label: Optional[str] = None):
        super().__init__(label)
        self._config = config

    def expand(self, videos):
        max_words = self._config.summary_max_words
        jobs = videos | "Prompts" >> beam.FlatMap(_jobs, max_words)
        answers, dead = (
            jobs | "Summarize" >> RunInference(KeyedModelHandler(SummaryHandler(self._config))).with_exception_handling()
        )
        cleaned = answers | "Clean" >> beam.Map(_clean, max_words)
        failed = dead.failed_inferences | "BatchErrors" >> beam.FlatMap(_failed_batch_answers)
        all_answers = (cleaned, failed) | "AllAnswers" >> beam.Flatten()
        return videos | "AttachSummaries" >> JoinToVideos("summarize", _attach_answers, {"answers": all_answers})

"""The Beam wiring of the model stages (VidLA section 3): RunInference ModelHandlers around the
BLIP-2 captioner (curate.models.caption) and the LLM summarizer (curate.models.summarize), the
transforms they need, and AnnotateClips, which composes them.

``AnnotateClips(config, out_dir, cut, download)`` is the one stage a recipe applies when a model is
given, in place of the plain cut, over one element per video: ``(VideoMeta with media_path,
tuple[Clip] of all its scales)`` -> ``(committed StagedVideo, failures)``. Frames are sampled on a
per-video grid and captioned once for every clip and scale that contains them (curate.media.frames).

The source media is on the disk of the worker that downloaded it, so everything that reads it runs
fused with the download, per video, before the download is discarded: CutAndDecodeFrames cuts the
clips into DIR/.staging (manifest not yet written) and decodes the frames they need on the per-video
grid (curate.media.frames), resized to the captioner's input. After that only small records travel:
frames to the captioner (each captioned once, for every clip and scale containing it), whose
captions are joined back to the StagedVideo by video id (JoinToVideos); the summarizer takes the
StagedVideos themselves, many in one call.
CommitStaged writes a video's manifest once its clips are annotated, so resume never sees a staged
video without its annotations.
"""

from __future__ import annotations

from typing import Optional

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult, RunInference
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from curate.beam.recipe import _CutVideo
from curate.beam.stages import FAILURES
from curate.errors import StageError
from curate.files import remove_tree
from curate.media.download import discard_download
from curate.media.frames import DecodeAhead, attach_frame_captions, plan_frames, plan_of, read_keyframes
from curate.models.caption import Blip2Captioner, captioner_input_size
from curate.models.check import validate_models
from curate.models.config import AnnotateConfig
from curate.models.summarize import attach_summaries, clean_summary, load_summarizer, summary_jobs
from curate.output import write
from schemas import Failure

FRAMES = "frames"
FRAME_ERRORS = "frame_errors"


# RunInference hands the captioner between these many frames at once, the size adapted to how long
# the calls take (Beam's BatchElements); the captioner runs them in forward passes sized by its
# device (curate.models.caption). Small first calls let the model start while the decoder, a
# thread, works up to CAPTION_FRAMES_PER_CALL frames ahead, across videos; the decode step takes
# new videos until FRAMES_AHEAD of their frames wait to be decoded or handed on.
CAPTION_MIN_FRAMES_PER_CALL = 8
CAPTION_FRAMES_PER_CALL = 64
FRAMES_AHEAD = 2 * CAPTION_FRAMES_PER_CALL
# The summarizer gets up to this many prompts at once, all of a bundle in practice: vLLM schedules
# them itself (continuous batching), the transformers backend sorts them by length into batches.
SUMMARY_PROMPTS_PER_CALL = 4096


class Blip2CaptionHandler(ModelHandler):
    """RunInference's view of the captioner: examples are RGB arrays, predictions caption strings."""

    def __init__(self, config: AnnotateConfig):
        frames = max(CAPTION_FRAMES_PER_CALL, config.caption_batch_size or 0)
        super().__init__(min_batch_size=min(CAPTION_MIN_FRAMES_PER_CALL, frames), max_batch_size=frames)
        self._config = config

    def load_model(self) -> Blip2Captioner:
        c = self._config
        return Blip2Captioner.load(
            c.caption_model,
            device=c.device,
            dtype=c.dtype,
            batch_size=c.caption_batch_size,
            max_new_tokens=c.caption_max_new_tokens,
            num_beams=c.caption_num_beams,
        )

    def run_inference(self, batch, model: Blip2Captioner, inference_args: Optional[dict] = None):
        return model.caption(batch)

    def get_metrics_namespace(self) -> str:
        return "caption"


def _num_prompts(video) -> int:
    return max(1, len(summary_jobs(video.clips, 1)))


class SummaryHandler(ModelHandler):
    """RunInference's view of the summarizer: examples are StagedVideos, predictions the raw answers
    to their ``summary_jobs`` prompts, in order. The prompts of all the videos of a call, up to
    SUMMARY_PROMPTS_PER_CALL (all of a bundle in practice), go to the summarizer at once: vLLM
    schedules them itself, the transformers backend sorts them by length into its batches."""

    def __init__(self, config: AnnotateConfig):
        super().__init__(
            min_batch_size=SUMMARY_PROMPTS_PER_CALL,
            max_batch_size=SUMMARY_PROMPTS_PER_CALL,
            element_size_fn=_num_prompts,
        )
        self._config = config

    def load_model(self):
        return load_summarizer(self._config)

    def run_inference(self, batch, model, inference_args: Optional[dict] = None):
        max_words = self._config.summary_max_words
        prompts = [[prompt for _, _, prompt in summary_jobs(video.clips, max_words)] for video in batch]
        flat = [prompt for video_prompts in prompts for prompt in video_prompts]
        answers = iter(model.summarize(flat) if flat else [])
        return [
            PredictionResult(video, [next(answers) for _ in video_prompts])
            for video, video_prompts in zip(batch, prompts)
        ]

    def get_metrics_namespace(self) -> str:
        return "summarize"


def _on_model_workers(inference, config: AnnotateConfig):
    """The RunInference step with config.model_accelerator as its resource hint, where one is set."""
    if config.model_accelerator is None:
        return inference
    return inference.with_resource_hints(accelerator=config.model_accelerator)


# ---------------------------------------------------------------------------------------------
# cut and decode: the only step that reads the source media


class CutAndDecodeFrames(beam.PTransform):
    """``out = videos | CutAndDecodeFrames(out_dir, cut, download, fps, size, keyframes)`` over
    (VideoMeta, tuple[Clip]), fused with the download: cuts each video's clips into DIR/.staging
    WITHOUT its manifest (the annotations still change it), plans the frames its clips need (fps
    None: none; keyframes: moved to the nearest keyframe, curate.media.frames.plan_frames) into
    each clip's frame_times, decodes them resized to `size`, and discards the download. Returns a
    DoOutputsTuple: main "staged" (StagedVideo), FRAMES ((video_id, t), RGB array), FRAME_ERRORS
    (video_id, (t, why)), FAILURES (Failure)."""

    def __init__(
        self, out_dir: str, cut, download, fps: Optional[float], size: Optional[tuple], keyframes: bool = True
    ):
        super().__init__()
        self._cut = _CutAndDecode(out_dir, cut, download, fps, size, keyframes)

    def expand(self, videos):
        return videos | beam.ParDo(self._cut).with_outputs(FAILURES, FRAMES, FRAME_ERRORS, main="staged")


class _CutAndDecode(_CutVideo):
    """Frames are decoded in a background thread (curate.media.frames.DecodeAhead) and handed on as
    they come: the captioner, fused downstream, runs on frames already decoded while the next
    ones are, those of the next videos too (a batch spans several short videos). Each process()
    call queues its video's frames and hands on the oldest ones until at most FRAMES_AHEAD are
    left queued; finish_bundle hands on the rest. A download is discarded once its frames are
    decoded, not when the cut is done."""

    commit = False  # committed by CommitStaged once annotated: a killed run redoes the video

    def __init__(
        self, out_dir: str, cut, download, fps: Optional[float], size: Optional[tuple], keyframes: bool = True
    ):
        super().__init__(out_dir, cut, None)
        self._fps, self._size, self._keyframes, self._download_after = fps, size, keyframes, download
        self._decoded = beam.metrics.Metrics.counter("caption", "frames_decoded")
        self._failed = beam.metrics.Metrics.counter("caption", "frames_undecodable")
        self._ahead = None

    def start_bundle(self):
        if self._ahead is not None and self._ahead.untaken:  # a failed bundle's frames: not this one's
            self._ahead.close()
            self._ahead = None
        if self._fps is not None and self._ahead is None:
            self._ahead = DecodeAhead(self._size, CAPTION_FRAMES_PER_CALL)
        self._where = (MIN_TIMESTAMP, GlobalWindow())  # process() sets its element's

    def process(self, element, timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
        # the frames of a video may be handed on while a later one is processed, or at the bundle's
        # end: each goes out as a WindowedValue in its own video's window
        self._where, self._queued = (timestamp, window), False
        yield from super().process(element)
        if not self._queued and self._download_after is not None:
            discard_download(element[0].video_id, self._download_after)

    def after_cut(self, meta, staged):
        if self._fps is None:
            return staged, []
        keyframes = read_keyframes(meta.media_path) if self._keyframes else ()
        plan = plan_frames(staged.clips, self._fps, keyframes)
        clips = tuple(c._replace(frame_times=plan.clip_times[c.key]) for c in staged.clips)
        video_id, download = meta.video_id, self._download_after
        done = None if download is None else (lambda: discard_download(video_id, download))
        self._ahead.add((video_id, *self._where), meta.media_path, plan.times, done)
        self._queued = True
        return staged._replace(clips=clips), self._handed(self._ahead.take(FRAMES_AHEAD))

    def finish_bundle(self):
        if self._ahead is not None:
            yield from self._handed(self._ahead.take(0))

    def teardown(self):
        if self._ahead is not None:
            self._ahead.close()

    def _handed(self, taken):
        for (video_id, timestamp, window), t, frame in taken:
            if isinstance(frame, str):
                self._failed.inc()
                yield TaggedOutput(FRAME_ERRORS, WindowedValue((video_id, (t, frame)), timestamp, (window,)))
            else:
                self._decoded.inc()
                yield TaggedOutput(FRAMES, WindowedValue(((video_id, t), frame), timestamp, (window,)))


class CommitStaged(beam.PTransform):
    """``committed = staged | CommitStaged(out_dir)``: write each annotated video's manifest (from
    here on it counts as staged for resume); a video left with no clip is removed from staging."""

    def __init__(self, out_dir: str):
        super().__init__()
        self._out_dir = out_dir

    def expand(self, staged):
        return staged | beam.FlatMap(_commit, self._out_dir)


def _commit(staged, out_dir: str):
    if not staged.clips:
        remove_tree(write.staging_dir(out_dir, staged.video_id))
        return
    yield write.write_manifest(out_dir, staged)


# ---------------------------------------------------------------------------------------------
# joining results back to their staged video


def _failed_batch_errors(batch_and_exc):
    """RunInference's dead letters (a failed batch, its exception) -> one frame error per frame."""
    batch, exc = batch_and_exc
    detail = f"captioner failed on a batch of {len(batch)}: {type(exc).__name__}: {exc}"
    for (video_id, t), _ in batch:
        yield video_id, (t, detail)


class JoinToVideos(beam.PTransform):
    """Bring per-video results back to their staged video: ``{"name": PCollection[(video_id,
    result)], ...}`` joined with the StagedVideos, then ``attach(video_id, clips, results_by_name)
    -> (clips, failures)``. Only small records meet here: the clip files are already staged.
    Returns (PCollection[StagedVideo], PCollection[Failure])."""

    def __init__(self, stage: str, attach, results: dict, label: Optional[str] = None):
        super().__init__(label)
        self._stage = stage
        self._attach = attach
        self._results = results

    def expand(self, videos):
        keyed = videos | "KeyVideos" >> beam.Map(lambda v: (v.video_id, v))
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
                raise ValueError(
                    f"video {video_id!r} reached the {self._stage} stage {len(videos)} times; video ids must be unique"
                )
            kept, failures = self._attach(video_id, videos[0].clips, groups)
            annotated = write.replace_clips(videos[0], kept, failures)
        except Exception as exc:  # noqa: BLE001 - never lose a video silently
            yield TaggedOutput(FAILURES, Failure(video_id, self._stage, f"error:{type(exc).__name__}", str(exc)))
            return
        for failure in failures:
            yield TaggedOutput(FAILURES, failure)
        yield annotated


# ---------------------------------------------------------------------------------------------
# captions


def _attach_captions(video_id, clips, groups):
    """The clips carry their planned frame times (CutAndDecodeFrames)."""
    return attach_frame_captions(video_id, clips, plan_of(clips), dict(groups["captions"]), dict(groups["errors"]))


class CaptionClipFrames(beam.PTransform):
    """``captioned, failures = (staged, frames, frame_errors) | CaptionClipFrames(config)``: the
    outputs of CutAndDecodeFrames; each frame is captioned once and every clip gets its frames'
    captions (frame_captions, frame_times; caption for unsummarized scales)."""

    def __init__(self, config: AnnotateConfig, label: Optional[str] = None):
        super().__init__(label)
        self._config = config

    def expand(self, inputs):
        staged, frames, frame_errors = inputs
        inference = RunInference(KeyedModelHandler(Blip2CaptionHandler(self._config))).with_exception_handling()
        captioned, dead = frames | "Caption" >> _on_model_workers(inference, self._config)
        captions = captioned | "ByVideo" >> beam.MapTuple(lambda key, text: (key[0], (key[1], text)))
        batch_errors = dead.failed_inferences | "BatchErrors" >> beam.FlatMap(_failed_batch_errors)
        errors = (frame_errors, batch_errors) | "AllFrameErrors" >> beam.Flatten()
        return staged | "AttachCaptions" >> JoinToVideos(
            "caption", _attach_captions, {"captions": captions, "errors": errors}
        )


# ---------------------------------------------------------------------------------------------
# summaries


def _summarized(video, raw_answers, max_words: int):
    """The video with its summaries, the clips whose answers are unusable dropped as Failures;
    raw_answers: one per summary_jobs prompt, or a (reason, detail) error for all of them."""
    answers = []
    for i, (key, field, _) in enumerate(summary_jobs(video.clips, max_words)):
        if isinstance(raw_answers, tuple):
            answers.append((key, field, None, raw_answers))
            continue
        try:
            answers.append((key, field, clean_summary(raw_answers[i], max_words), None))
        except StageError as exc:
            answers.append((key, field, None, (exc.reason, exc.detail)))
    kept, failures = attach_summaries(video.video_id, video.clips, answers)
    return write.replace_clips(video, kept, failures), failures


class _AttachSummaries(beam.DoFn):
    """PredictionResult(video, raw answers) -> the summarized video (+ FAILURES); a failed call
    ((batch of videos, exception), from RunInference's dead letters) -> its videos, every clip that
    needed a summary dropped as a "summarizer_error" Failure."""

    def __init__(self, max_words: int):
        self._max_words = max_words

    def process(self, element, failed_call: bool = False):
        if failed_call:
            videos, exc = element
            detail = f"summarizer failed on a call for {len(videos)} videos: {type(exc).__name__}: {exc}"
            items = [(video, ("summarizer_error", detail)) for video in videos]
        else:
            items = [(element.example, list(element.inference))]
        for video, raw_answers in items:
            try:
                summarized, failures = _summarized(video, raw_answers, self._max_words)
            except Exception as exc:  # noqa: BLE001 - never lose a video silently
                yield TaggedOutput(
                    FAILURES, Failure(video.video_id, "summarize", f"error:{type(exc).__name__}", str(exc))
                )
                continue
            for failure in failures:
                yield TaggedOutput(FAILURES, failure)
            yield summarized


class SummarizeClips(beam.PTransform):
    """``summarized, failures = staged | SummarizeClips(config)`` over StagedVideo: RunInference over
    the videos themselves, so that a bundle's prompts reach the summarizer in one call and the
    answers come back with their video (no per-prompt elements, no join)."""

    def __init__(self, config: AnnotateConfig, label: Optional[str] = None):
        super().__init__(label)
        self._config = config

    def expand(self, videos):
        attach = _AttachSummaries(self._config.summary_max_words)
        inference = RunInference(SummaryHandler(self._config)).with_exception_handling()
        results, dead = videos | "Summarize" >> _on_model_workers(inference, self._config)
        ok = results | "Attach" >> beam.ParDo(attach).with_outputs(FAILURES, main="videos")
        failed = dead.failed_inferences | "AttachFailed" >> beam.ParDo(attach, failed_call=True).with_outputs(
            FAILURES, main="videos"
        )
        summarized = (ok.videos, failed.videos) | "AllVideos" >> beam.Flatten()
        failures = (ok[FAILURES], failed[FAILURES]) | "AllFailures" >> beam.Flatten()
        return summarized, failures


# ---------------------------------------------------------------------------------------------
# the stage a recipe applies


class AnnotateClips(beam.PTransform):
    """``staged, failures = videos | AnnotateClips(args_or_config, out_dir, cut, download)``.

    videos: PCollection[(VideoMeta with media_path, tuple[Clip])], one element per video with all
    its clips, straight from PlanClips (fused with the download: the media is on this worker).
    Per video, on that worker: the clips are cut into DIR/.staging and the frames to caption are
    decoded, then the download is discarded (CutAndDecodeFrames). Then only
    frames, prompts and small records travel: captions fill frame_captions/frame_times (caption
    model), summaries fill caption (every clip) and subtitle_summary (medium and long clips)
    (summary model), and the video's staging manifest is written last (CommitStaged).

    staged: PCollection[curate.output.write.StagedVideo], committed, ready for the shard writer.
    failures: cut failures as CutClips gives them, and a Failure per clip that cannot be
    annotated (stage "caption": no decodable frame; "summarize": unusable LLM answer); such a
    clip is not a sample. Needs at least one model (config.enabled).
    """

    def __init__(self, args_or_config, out_dir: str, cut, download=None, label: Optional[str] = None):
        super().__init__(label)
        self.config = validate_models(args_or_config)
        if not self.config.enabled:
            raise ValueError(
                "AnnotateClips needs --caption-model or --summary-model; "
                "without models the recipe cuts with curate.beam.recipe.CutClips"
            )
        self._out_dir, self._cut, self._download = out_dir, cut, download

    def expand(self, videos):
        config = self.config
        fps, size = None, None
        if config.caption_model:
            # frames are decoded straight to the captioner's input size: small elements, one resize
            fps, size = config.caption_fps, captioner_input_size(config.caption_model)
        cut = videos | "CutAndDecodeFrames" >> CutAndDecodeFrames(
            self._out_dir, self._cut, self._download, fps, size, config.caption_frames == "keyframe"
        )
        staged, all_failures = cut.staged, [cut[FAILURES]]
        if config.caption_model:
            staged, failures = (staged, cut[FRAMES], cut[FRAME_ERRORS]) | "CaptionClipFrames" >> (
                CaptionClipFrames(config)
            )
            all_failures.append(failures)
        if config.summary_model:
            staged, failures = staged | "SummarizeClips" >> SummarizeClips(config)
            all_failures.append(failures)
        committed = staged | "CommitStaged" >> CommitStaged(self._out_dir)
        return committed, tuple(all_failures) | "FlattenAnnotationFailures" >> beam.Flatten()

"""BLIP-2 captions of sampled frames (VidLA section 3: BLIP-2 ViT-L OPT-2.7B at ~0.1 FPS).

``Blip2Captioner`` is the model behind a small interface (load once, caption a batch of RGB arrays);
``Blip2CaptionHandler`` is the Beam ModelHandler that RunInference uses to load it once per worker and
feed it batches; ``CaptionClipFrames`` is the stage: plan each video's frames (curate.frames), decode
them, caption each once, and give every clip of every scale the captions of its frames.

The processor is BLIP-2's own: ``Blip2Processor.from_pretrained`` picks the PIL image processor
(``BlipImageProcessorPil``) when torchvision is not installed, so nothing here needs torchvision.
"""
from __future__ import annotations

from typing import Optional, Sequence

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, RunInference
from apache_beam.pvalue import TaggedOutput

from curate.annotate import AnnotateConfig, torch_device_and_dtype
from curate.frames import attach_frame_captions, decode_frames, plan_frames
from curate.stages import FAILURES
from schemas import Failure

FRAME_ERRORS = "frame_errors"


def check_captioner_deps(model: str) -> None:
    """Raise ValueError (naming what to install) when the captioner cannot be built here."""
    try:
        import av  # noqa: F401
        import torch  # noqa: F401
        from transformers import Blip2ForConditionalGeneration, Blip2Processor  # noqa: F401
    except ImportError as exc:
        raise ValueError(f"--caption-model {model!r} needs the models extra: "
                         f"pip install 'vidlang[models]' ({exc})") from exc


def load_blip2_processor(model: str):
    from transformers import Blip2Processor

    return Blip2Processor.from_pretrained(model)


def captioner_input_size(model: str) -> tuple:
    """(width, height) the processor resizes frames to: frames are decoded straight to this size."""
    size = load_blip2_processor(model).image_processor.size
    return int(size["width"]), int(size["height"])


class Blip2Captioner:
    """BLIP-2 with its processor; ``caption(images)`` -> one caption per image."""

    def __init__(self, model, processor, *, max_new_tokens: int = 30, num_beams: int = 1):
        self.model = model
        self.processor = processor
        self.max_new_tokens = max_new_tokens
        self.num_beams = num_beams

    @classmethod
    def load(cls, name: str, *, device: str = "auto", dtype: str = "auto", **generation) -> "Blip2Captioner":
        from transformers import Blip2ForConditionalGeneration

        torch_device, torch_dtype = torch_device_and_dtype(device, dtype)
        model = Blip2ForConditionalGeneration.from_pretrained(name, dtype=torch_dtype).to(torch_device).eval()
        return cls(model, load_blip2_processor(name), **generation)

    def caption(self, images: Sequence) -> list:
        import torch

        inputs = self.processor(images=list(images), return_tensors="pt")
        pixel_values = inputs["pixel_values"].to(self.model.device, self.model.dtype)
        with torch.inference_mode():
            out = self.model.generate(pixel_values=pixel_values, max_new_tokens=self.max_new_tokens,
                                      num_beams=self.num_beams, do_sample=False)
        return [text.strip() for text in self.processor.batch_decode(out, skip_special_tokens=True)]


class Blip2CaptionHandler(ModelHandler):
    """RunInference's view of the captioner: examples are RGB arrays, predictions caption strings."""

    def __init__(self, config: AnnotateConfig):
        super().__init__(min_batch_size=1, max_batch_size=config.caption_batch_size)
        self._config = config

    def load_model(self) -> Blip2Captioner:
        c = self._config
        return Blip2Captioner.load(c.caption_model, device=c.device, dtype=c.dtype,
                                   max_new_tokens=c.caption_max_new_tokens, num_beams=c.caption_num_beams)

    def run_inference(self, batch, model: Blip2Captioner, inference_args: Optional[dict] = None):
        return model.caption(batch)

    def get_metrics_namespace(self) -> str:
        return "caption"


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

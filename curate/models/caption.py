"""BLIP-2 captions of sampled frames (VidLA section 3: BLIP-2 ViT-L OPT-2.7B at ~0.1 FPS).

``Blip2Captioner`` is the model behind a small interface: load once, caption a batch of RGB arrays.
No Beam here: curate.beam.models wraps it in a RunInference ModelHandler and wires the stage.

The processor is BLIP-2's own: ``Blip2Processor.from_pretrained`` picks the PIL image processor
(``BlipImageProcessorPil``) when torchvision is not installed, so nothing here needs torchvision.
"""
from __future__ import annotations

from typing import Optional, Sequence

from curate.models.config import torch_device_and_dtype


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


def captioner_input_size(model: str) -> Optional[tuple]:
    """(width, height) the processor resizes frames to, so that frames are decoded straight to it;
    None (decode at full size) for a processor that keeps the aspect ratio."""
    size = load_blip2_processor(model).image_processor.size
    width, height = size.get("width"), size.get("height")
    return (int(width), int(height)) if width and height else None


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

"""BLIP-2 captions of sampled frames (VidLA section 3: BLIP-2 ViT-L OPT-2.7B at ~0.1 FPS).

``Blip2Captioner`` is the model behind a small interface: load once, caption a batch of RGB arrays.
No Beam here: curate.beam.models wraps it in a RunInference ModelHandler and wires the stage.

Frames arrive already at the model's input size (curate.media.frames scales them in the decoder), so
what is left of BLIP-2's preprocessing, rescale and normalise, runs as one tensor op on the model's
device (``FrameTensors``): uint8 frames travel to the device, four times smaller than float32, and no
frame makes a PIL round trip. It equals BLIP-2's own processor on the same frames to float32
rounding (tests/models/test_caption_tensors.py). Images of any other size (or processors that crop
or pad) go through the processor instead.

The processor is BLIP-2's own: ``Blip2Processor.from_pretrained`` picks the PIL image processor
(``BlipImageProcessorPil``) when torchvision is not installed, so nothing here needs torchvision.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from curate.models.config import device_batch_size, torch_device_and_dtype


def check_captioner_deps(model: str) -> None:
    """Raise ValueError (naming what to install) when the captioner cannot be built here."""
    try:
        import av  # noqa: F401
        import torch  # noqa: F401
        from transformers import Blip2ForConditionalGeneration, Blip2Processor  # noqa: F401
    except ImportError as exc:
        raise ValueError(
            f"--caption-model {model!r} needs the models extra: pip install 'vidlang[models]' ({exc})"
        ) from exc


def load_blip2_processor(model: str):
    from transformers import Blip2Processor  # heavy: models extra

    return Blip2Processor.from_pretrained(model)


def _fixed_size(image_processor) -> Optional[tuple]:
    size = image_processor.size
    size = size if isinstance(size, dict) else vars(size)
    width, height = size.get("width"), size.get("height")
    return (int(width), int(height)) if width and height else None


def captioner_input_size(model: str) -> Optional[tuple]:
    """(width, height) the processor resizes frames to, so that frames are decoded straight to it;
    None (decode at full size) for a processor that keeps the aspect ratio."""
    return _fixed_size(load_blip2_processor(model).image_processor)


class FrameTensors:
    """BLIP-2's image preprocessing for frames already at its input size: (B, H, W, 3) uint8 ->
    pixel_values (B, 3, H, W) on the device, in the model's dtype. Rescale and normalise are computed
    in float32 (as the processor does) and cast last."""

    def __init__(self, image_processor, device, dtype):
        import torch  # heavy: only the model stages need torch (models extra)

        ip = image_processor
        self.size = _fixed_size(ip)  # (width, height); None: the processor must resize
        self.usable = (
            self.size is not None and not getattr(ip, "do_center_crop", False) and not getattr(ip, "do_pad", False)
        )
        self.device, self.dtype = torch.device(device), dtype
        scale = float(ip.rescale_factor) if ip.do_rescale else 1.0
        mean = ip.image_mean if ip.do_normalize else 0.0
        std = ip.image_std if ip.do_normalize else 1.0
        self._scale = scale
        self._mean_C11 = torch.tensor(mean, dtype=torch.float32, device=self.device).reshape(-1, 1, 1)
        self._std_C11 = torch.tensor(std, dtype=torch.float32, device=self.device).reshape(-1, 1, 1)

    def accepts(self, images: Sequence) -> bool:
        """True when every image is an RGB uint8 array (H, W, 3) at the input size."""
        if not self.usable:
            return False
        width, height = self.size
        return all(getattr(im, "shape", None) == (height, width, 3) and str(im.dtype) == "uint8" for im in images)

    def __call__(self, frames: Sequence):
        import torch  # heavy: only the model stages need torch (models extra)

        x_BHWC = torch.from_numpy(np.stack(frames))
        if self.device.type == "cuda":
            x_BHWC = x_BHWC.pin_memory()
        x_BHWC = x_BHWC.to(self.device, non_blocking=True)
        # channels first while still uint8 (a quarter of the bytes to move), then the arithmetic in
        # place on contiguous float32: the processor's very operations, 3x faster than on the view
        x_BCHW = x_BHWC.permute(0, 3, 1, 2).contiguous().to(torch.float32)
        return x_BCHW.mul_(self._scale).sub_(self._mean_C11).div_(self._std_C11).to(self.dtype)


class Blip2Captioner:
    """BLIP-2 with its processor; ``caption(images)`` -> one caption per image, in forward passes of
    ``batch_size`` images (None: sized by the device, curate.models.config.device_batch_size)."""

    def __init__(
        self, model, processor, *, max_new_tokens: int = 30, num_beams: int = 1, batch_size: Optional[int] = None
    ):
        self.model = model
        self.processor = processor
        self.max_new_tokens = max_new_tokens
        self.num_beams = num_beams
        self.batch_size = batch_size or device_batch_size("caption", str(model.device))
        self.tensors = FrameTensors(processor.image_processor, model.device, model.dtype)

    @classmethod
    def load(cls, name: str, *, device: str = "auto", dtype: str = "auto", **generation) -> "Blip2Captioner":
        from transformers import Blip2ForConditionalGeneration  # heavy: models extra

        torch_device, torch_dtype = torch_device_and_dtype(device, dtype)
        model = Blip2ForConditionalGeneration.from_pretrained(name, dtype=torch_dtype).to(torch_device).eval()
        return cls(model, load_blip2_processor(name), **generation)

    def pixel_values(self, images: Sequence):
        """(B, 3, H, W) on the model's device and in its dtype."""
        if self.tensors.accepts(images):
            return self.tensors(images)
        inputs = self.processor(images=list(images), return_tensors="pt")
        return inputs["pixel_values"].to(self.model.device, self.model.dtype)

    def caption(self, images: Sequence) -> list:
        captions = []
        for i in range(0, len(images), self.batch_size):
            captions += self.generate(self.pixel_values(images[i : i + self.batch_size]))
        return captions

    def generate(self, pixel_values) -> list:
        """Captions of ready pixel_values (B, 3, H, W)."""
        import torch  # heavy: only the model stages need torch (models extra)

        with torch.inference_mode():
            out = self.model.generate(
                pixel_values=pixel_values, max_new_tokens=self.max_new_tokens, num_beams=self.num_beams, do_sample=False
            )
        return [text.strip() for text in self.processor.batch_decode(out, skip_special_tokens=True)]

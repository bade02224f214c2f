"""E-ViLM's batch: 4 frames sparsely sampled per clip, randomly cropped and flipped in training (section
4.1), through the shared sample function; the models normalise the uint8 frames themselves."""

from __future__ import annotations


def video_inputs(batch: dict, device) -> dict:
    """Keyword arguments of ``encode_video``: the uint8 frames on the device."""
    return {"frames_BTCHW": batch["frames_BTCHW"].to(device, non_blocking=True)}


def caption_tokens(batch: dict):
    """Each clip's caption, or its subtitle where it has no caption: (ids_BL, mask_BL)."""
    import torch

    use = batch["has_caption"].bool()[:, None]
    return (torch.where(use, batch["caption_ids"], batch["subtitle_ids"]),
            torch.where(use, batch["caption_mask"], batch["subtitle_mask"]))

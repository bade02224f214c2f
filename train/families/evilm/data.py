"""E-ViLM's batch: 4 frames sparsely sampled per clip, randomly cropped and flipped in training (section
4.1), through the shared sample function; the models normalise the uint8 frames themselves. In
training each sample also carries its MVM mask (BEiT blockwise, 40% of every frame's patches), drawn in
the loader workers from the sample's seeded RNG rather than in the training step."""

from __future__ import annotations


def evilm_sample(raw: dict, meta: dict, cfg, rng):
    """{"frames_TCHW": uint8 (T, 3, S, S)} and, in training, {"patch_mask_THW": bool (T, S/32, S/32)}."""
    import torch

    from train.data.samples import frames_sample
    from train.masking import blockwise_mask_2d

    out = frames_sample(raw, meta, cfg, rng)
    if rng is not None:
        mcfg = cfg.model_config
        generator = torch.Generator().manual_seed(rng.getrandbits(63))
        out["patch_mask_THW"] = torch.stack(
            [
                blockwise_mask_2d(mcfg.grid, mcfg.grid, mcfg.mvm_ratio, generator=generator)
                for _ in range(mcfg.num_frames)
            ]
        )
    return out


def video_inputs(batch: dict, device) -> dict:
    """Keyword arguments of ``encode_video``: the uint8 frames on the device."""
    return {"frames_BTCHW": batch["frames_BTCHW"].to(device, non_blocking=True)}


def caption_tokens(batch: dict):
    """Each clip's caption, or its subtitle where it has no caption: (ids_BL, mask_BL)."""
    import torch

    use = batch["has_caption"].bool()[:, None]
    return (
        torch.where(use, batch["caption_ids"], batch["subtitle_ids"]),
        torch.where(use, batch["caption_mask"], batch["subtitle_mask"]),
    )

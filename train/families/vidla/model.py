"""The VidLA two-tower model: video and text embeddings in one L2-normalised space."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from train.model.towers import TextTransformer, VideoTransformer

from .config import ModelConfig


class VidLA(nn.Module):
    """Attribute names follow transformers' CLIPModel so CLIP checkpoints load by name (train.model.weights)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.vision_model = VideoTransformer(cfg)
        self.text_model = TextTransformer(cfg)
        self.visual_projection = nn.Linear(cfg.vision_width, cfg.embed_dim, bias=False)
        self.text_projection = nn.Linear(cfg.text_width, cfg.embed_dim, bias=False)
        # log(1 / temperature); the trainer clamps it to [0, ln cfg.logit_scale_max] after every step
        self.logit_scale = nn.Parameter(torch.tensor(cfg.logit_scale_init))

    def encode_video(self, frames_BTCHW: torch.Tensor) -> torch.Tensor:
        """Frames normalised with CLIP's mean/std, (B, T, 3, H, W) -> (B, embed_dim), unit norm."""
        if self.cfg.pooling == "meanp":
            frames_BTD = F.normalize(self.visual_projection(self.vision_model.forward_frames(frames_BTCHW)), dim=-1)
            return F.normalize(frames_BTD.mean(dim=1), dim=-1)
        return F.normalize(self.visual_projection(self.vision_model(frames_BTCHW)), dim=-1)

    def encode_text(self, input_ids_BL: torch.Tensor, attention_mask_BL: torch.Tensor) -> torch.Tensor:
        """Right-padded CLIP token ids and their 0/1 mask, (B, L) -> (B, embed_dim), unit norm."""
        return F.normalize(self.text_projection(self.text_model(input_ids_BL, attention_mask_BL)), dim=-1)

    def adapt_checkpoint_tensors(self, state: dict) -> dict:
        """Another run's tensors made to fit this model (``init_from``): a temporal embedding of another
        frame count is linearly interpolated over time (a 12-frame checkpoint starts a 32-frame
        fine-tuning run, VidLA appendix A.2). Frames are sampled at the centres of equal segments of the
        clip, so frame j of T shows moment (j + 1/2) / T: each new frame gets the embedding of the moment
        it shows, interpolated between the old frames around it (before the first old frame's moment
        and after the last one's, theirs), as the [MST] levels keep their moments
        (``mst_reference_frames``, train.model.attention.TokenLayout)."""
        name = "vision_model.embeddings.temporal_embedding"
        own = self.vision_model.embeddings.temporal_embedding
        if own is None or name not in state or state[name].shape == own.shape:
            return state
        source_TD = state[name]
        if source_TD.ndim != 2 or source_TD.shape[1] != own.shape[1]:
            return state  # a width mismatch is reported by the caller
        resized_TD = F.interpolate(source_TD.T[None].float(), size=own.shape[0], mode="linear", align_corners=False)[
            0
        ].T.to(source_TD.dtype)
        return {**state, name: resized_TD}

    def logit_scale_value(self) -> torch.Tensor:
        """1 / temperature, exp(logit_scale) within cfg.logit_scale_max (what the trainer's clamp keeps)."""
        return self.logit_scale.exp().clamp(max=self.cfg.logit_scale_max)


def build_model(cfg: ModelConfig) -> VidLA:
    """A VidLA model for `cfg`, initialised from `cfg.clip_weights` when set."""
    from .weights import load_configured_clip_weights

    model = VidLA(cfg)
    load_configured_clip_weights(model, cfg)
    return model


def at_frames(em, num_frames: int):
    """The checkpoint's VidLA (a train.eval.EvalModel) run on ``num_frames`` frames, as fine-tuning starts a
    32-frame model from a 12-frame one: the temporal embedding interpolated to the moments the frames
    show, the [MST] levels kept on the moments they were trained on (``mst_reference_frames``)."""
    import dataclasses

    if num_frames == em.model_config.num_frames:
        return em
    cfg = em.model_config.replace(
        num_frames=num_frames, mst_reference_frames=em.model_config.mst_reference_frames or em.model_config.num_frames
    )
    model = VidLA(cfg)
    model.load_state_dict(model.adapt_checkpoint_tensors(em.model.state_dict()))
    return dataclasses.replace(em, model=model.to(em.device).eval(), num_frames=num_frames, model_config=cfg)

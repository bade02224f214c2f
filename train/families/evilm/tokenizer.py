"""E-ViLM's semantic vector-quantised video tokenizer (section 3.3), trained as its own stage.

Encoder E: a ViT over each frame's patches -> a ``code_dim`` vector per patch, l2-normalised; quantiser:
the nearest of ``num_codes`` l2-normalised prototypes (equation 4); decoder D: transformer layers over
the quantised codes of the whole clip, averaged, and a head predicting which words the caption holds
(equation 5), trained with the paper's focal loss (equation 6) plus the VQ codebook and commitment
terms with a straight-through gradient (equation 7). After training only E and the codebook are kept:
``encode`` maps frames to a (B, T, h, w) grid of codes, the targets of E-ViLM's masked video modeling.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from train.data.transforms import CLIP_MEAN, CLIP_STD
from train.families.evilm.config import SemanticTokenizerConfig
from train.model.layers import Encoder


def focal_word_loss(logits_BK: torch.Tensor, targets_BK: torch.Tensor, positive_weight: float = 1.0) -> torch.Tensor:
    """Equation 6: -(1/K) sum_k [y_k log p_k + (1 - y_k) p_k log(1 - p_k)], averaged over the batch.
    Negatives are down-weighted by their own probability, so the many absent words of a caption do not
    swamp the few present ones."""
    p = torch.sigmoid(logits_BK.float())
    log_p, log_not_p = F.logsigmoid(logits_BK.float()), F.logsigmoid(-logits_BK.float())
    y = targets_BK.float()
    per_word = positive_weight * y * log_p + (1 - y) * p * log_not_p
    return -per_word.mean()


def words_mask(mask_BL: torch.Tensor) -> torch.Tensor:
    """The word positions of CLIP-style token rows: attended, minus the start and end-of-text tokens
    (the first and the last attended position of each row)."""
    mask = mask_BL.bool()
    last = mask.long().cumsum(1).argmax(1)  # index of the last attended token
    words = mask.clone()
    words[:, 0] = False
    words[torch.arange(mask.shape[0], device=mask.device), last] = False
    return words


def word_targets(ids_BL: torch.Tensor, words_BL: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """(B, K) multi-hot of the words (token ids at ``words_BL`` positions) of each caption."""
    if int(ids_BL.max()) >= vocab_size:
        raise ValueError(f"token id {int(ids_BL.max())} is outside the tokenizer's {vocab_size} words")
    targets = torch.zeros(ids_BL.shape[0], vocab_size, device=ids_BL.device)
    return targets.scatter_(1, ids_BL * words_BL, words_BL.float()).clamp_(max=1)


class FrameEmbeddings(nn.Module):
    """CLIP's vision embeddings (same names): [CLS], bias-free patch convolution, learnt positions."""

    def __init__(self, cfg: SemanticTokenizerConfig):
        super().__init__()
        self.class_embedding = nn.Parameter(torch.randn(cfg.width) * cfg.width**-0.5)
        self.patch_embedding = nn.Conv2d(3, cfg.width, cfg.patch_size, stride=cfg.patch_size, bias=False)
        self.position_embedding = nn.Embedding(cfg.grid * cfg.grid + 1, cfg.width)
        nn.init.normal_(self.position_embedding.weight, std=0.01)

    def forward(self, x_BCHW: torch.Tensor) -> torch.Tensor:
        patches = self.patch_embedding(x_BCHW).flatten(2).transpose(1, 2)
        cls = self.class_embedding.expand(patches.shape[0], 1, -1)
        return torch.cat([cls, patches], dim=1) + self.position_embedding.weight


class FrameViT(nn.Module):
    """CLIP's vision transformer (``vision_model`` of transformers' CLIPModel, same parameter names):
    frames -> post-LayerNorm patch features (B, h * w, width)."""

    def __init__(self, cfg: SemanticTokenizerConfig):
        super().__init__()
        self.embeddings = FrameEmbeddings(cfg)
        self.pre_layrnorm = nn.LayerNorm(cfg.width)  # sic, CLIP's name
        self.encoder = Encoder(
            cfg.layers, False, width=cfg.width, num_heads=cfg.heads, mlp_ratio=4.0, act=cfg.hidden_act, eps=1e-5
        )
        self.post_layernorm = nn.LayerNorm(cfg.width)

    def forward(self, x_BCHW: torch.Tensor) -> torch.Tensor:
        h = self.encoder(self.pre_layrnorm(self.embeddings(x_BCHW)))
        return self.post_layernorm(h[:, 1:])


class SemanticVQTokenizer(nn.Module):
    def __init__(self, cfg: SemanticTokenizerConfig, with_decoder: bool = True):
        super().__init__()
        self.cfg = cfg
        self.num_codes, self.downsample = cfg.num_codes, cfg.patch_size
        n = cfg.grid * cfg.grid
        self.vision_model = FrameViT(cfg)
        self.to_code = nn.Linear(cfg.width, cfg.code_dim)
        self.codebook = nn.Parameter(torch.randn(cfg.num_codes, cfg.code_dim))
        self.decoder = None
        if with_decoder:
            self.decoder = nn.ModuleDict(
                {
                    "from_code": nn.Linear(cfg.code_dim, cfg.decoder_width),
                    "layers": Encoder(
                        cfg.decoder_layers,
                        False,
                        width=cfg.decoder_width,
                        num_heads=cfg.decoder_heads,
                        mlp_ratio=4.0,
                        act="gelu",
                        eps=1e-5,
                    ),
                    "norm": nn.LayerNorm(cfg.decoder_width),
                    "word_head": nn.Linear(cfg.decoder_width, cfg.vocab_size),
                }
            )
            self.decoder_pos = nn.Parameter(torch.randn(cfg.num_frames * n, cfg.decoder_width) * 0.02)

    def embed(self, frames_BTCHW: torch.Tensor) -> torch.Tensor:
        """Frames in [0, 1] -> l2-normalised patch embeddings E(x) (B, T, h*w, code_dim)."""
        B, T = frames_BTCHW.shape[:2]
        mean = torch.tensor(CLIP_MEAN, device=frames_BTCHW.device).view(3, 1, 1)
        std = torch.tensor(CLIP_STD, device=frames_BTCHW.device).view(3, 1, 1)
        x = self.vision_model((frames_BTCHW.flatten(0, 1).float() - mean) / std)
        return F.normalize(self.to_code(x), dim=-1).unflatten(0, (B, T))

    def quantize(self, z_BTND: torch.Tensor):
        """Nearest prototype by Euclidean distance between unit vectors (= highest cosine)."""
        codebook = F.normalize(self.codebook, dim=-1)
        codes = (z_BTND @ codebook.T).argmax(-1)
        return codes, codebook[codes]

    @torch.no_grad()
    def encode(self, frames_BTCHW: torch.Tensor) -> torch.Tensor:
        """``VQTokenizer``: frames in [0, 1] (B, T, 3, H, W) -> codes (B, T, H / patch, W / patch)."""
        B, T, _, H, W = frames_BTCHW.shape
        if H != self.cfg.image_size or W != self.cfg.image_size:
            raise ValueError(f"frames of {H}x{W}: the tokenizer was built for {self.cfg.image_size}^2")
        codes, _ = self.quantize(self.embed(frames_BTCHW))
        return codes.view(B, T, self.cfg.grid, self.cfg.grid)

    def forward(self, frames_BTCHW: torch.Tensor, word_targets_BK: torch.Tensor) -> dict:
        """Named losses of equation 7 ("token": the focal word loss, "vq": codebook + commitment) and the
        batch's codes (for the codebook usage rate)."""
        if self.decoder is None:
            raise ValueError("this tokenizer was loaded without its decoder; it can only encode")
        z = self.embed(frames_BTCHW)
        codes, zq = self.quantize(z)
        vq = ((z.detach() - zq) ** 2).sum(-1).mean() + ((z - zq.detach()) ** 2).sum(-1).mean()
        zq_st = (z + (zq - z).detach()).flatten(1, 2)  # straight-through: gradients skip the look-up
        h = self.decoder["layers"](self.decoder["from_code"](zq_st) + self.decoder_pos)
        logits = self.decoder["word_head"](self.decoder["norm"](h).mean(1))
        token = focal_word_loss(logits, word_targets_BK, self.cfg.focal_positive_weight)
        return {"token": token, "vq": vq, "codes": codes, "word_logits": logits}


# what the tokenizer adds to CLIP's vision tower (left at init when CLIP weights are loaded)
NEW_PARAMETERS = ("to_code.", "codebook", "decoder.", "decoder_pos")


def load_clip_vision_weights(model: SemanticVQTokenizer, cfg: SemanticTokenizerConfig):
    """The family's weight loader: CLIP's vision tower (``cfg.clip_weights``, a CLIPModel.save_pretrained
    folder) into the encoder E; the position embedding is resized when the grid differs (ViT-B/32 at
    224^2 has 7 x 7 patches, the tokenizer's 256^2 frames 8 x 8)."""
    if not cfg.clip_weights:
        return "E: random init (no clip_weights)"
    from train.model.weights import load_clip_weights

    def adapt(state: dict) -> dict:
        vision = {k: v for k, v in state.items() if k.startswith("vision_model.")}
        key = "vision_model.embeddings.position_embedding.weight"
        if key in vision and vision[key].shape[0] != cfg.grid * cfg.grid + 1:
            vision[key] = _resize_positions(vision[key], cfg.grid)
        return vision

    left = load_clip_weights(model, cfg.clip_weights, adapt=adapt, new_parameters=NEW_PARAMETERS)
    return {"clip_weights": cfg.clip_weights, "left_at_init": left}


def _resize_positions(pos_ND: torch.Tensor, grid: int) -> torch.Tensor:
    """[CLS] position + a square grid of patch positions, bicubically resized to ``grid`` x ``grid``."""
    side = int(round((pos_ND.shape[0] - 1) ** 0.5))
    patches = pos_ND[1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
    patches = F.interpolate(patches.float(), size=(grid, grid), mode="bicubic", align_corners=False)
    return torch.cat([pos_ND[:1], patches[0].permute(1, 2, 0).reshape(grid * grid, -1).to(pos_ND.dtype)])


def load_semantic_tokenizer(checkpoint) -> SemanticVQTokenizer:
    """The frozen encoder + codebook of a stage-1 run (a checkpoint file or a run folder), decoder dropped."""
    from train import checkpoint as ckpt

    state = ckpt.load_checkpoint(checkpoint)
    if state.get("family", "evilm-tokenizer") != "evilm-tokenizer":
        raise ValueError(f"{checkpoint} is a {state['family']} run, not an E-ViLM tokenizer (evilm-tokenizer) run")
    cfg_dict = state.get("model_config") or {}
    try:
        cfg = SemanticTokenizerConfig(**{**cfg_dict, "clip_weights": None})
    except TypeError as exc:
        raise ValueError(f"{checkpoint} is not an E-ViLM tokenizer checkpoint ({exc})") from exc
    tokenizer = SemanticVQTokenizer(cfg, with_decoder=False)
    weights = {k: v for k, v in state["model"].items() if not k.startswith(("decoder.", "decoder_pos"))}
    try:
        tokenizer.load_state_dict(weights)
    except RuntimeError as exc:
        raise ValueError(f"{checkpoint} does not hold an E-ViLM tokenizer of its config: {str(exc)[:300]}") from exc
    return tokenizer.requires_grad_(False).eval()

"""VIMPAC's action classification (arXiv:2106.11250, section 4.2, appendix A.2, table 11):
``--task action-finetune`` and ``--task action-linear-probe`` on UCF101, HMDB51, Something-Something v2
or Kinetics-400 (train.datasets.load_action_split).

Fine-tuning, as the paper: T=10 frames of S=256 (``--num-frames``, ``--image-size``; the position tables
of the pre-training size are interpolated), sampled at 2 FPS (UCF101, Kinetics-400) or 4 FPS (HMDB51,
SSv2); a fully-connected layer on [CLS], initialised to zero; AdamW (0.9, 0.999), weight decay 0.01,
lr 1e-4 (Small/Base; 5e-5 for Large-Half), 10% linear warm-up then linear decay, clipping at 1.0,
batch 128 (micro-batches of ``--batch-size`` accumulated; the whole split where it is smaller), the
epochs of table 11 (SSv2 22, UCF101 and HMDB51 50, Kinetics-400 30). Training views: a random
temporal window, the short side resized to S or 1.25 S at random, a random S x S crop, a random flip.
Test: 10 temporal windows x 3 spatial crops (top-left, centre, bottom-right of the short side at S),
their class probabilities averaged.

Linear probe (the paper fine-tunes only; E-ViLM, arXiv:2311.17267, probes HMDB51 and Kinetics-400): the
frozen model at its pre-training size, [CLS] features of one centre view, a logistic regression
(L-BFGS, weight decay 1e-4 on the standardised features, as CLIP's probes) on the training split.
"""

from __future__ import annotations

import logging
import math
import random
from pathlib import Path

import torch
import torch.nn.functional as F

from train.data.workers import worker_context

log = logging.getLogger(__name__)

FPS = {"ucf101": 2.0, "kinetics400": 2.0, "hmdb51": 4.0, "ssv2": 4.0}
EPOCHS = {"ssv2": 22, "ucf101": 50, "hmdb51": 50, "kinetics400": 30}
FINETUNE_FRAMES, FINETUNE_SIZE = 10, 256
BATCH = 128
TEMPORAL_VIEWS, SPATIAL_VIEWS = 10, 3


def window_starts(num_available: int, span: int, views: int) -> list:
    """``views`` window starts spread evenly over the clip (0 for a single view of a short clip)."""
    last = max(0, num_available - span)
    if views == 1:
        return [last // 2]
    return [round(i * last / (views - 1)) for i in range(views)]


def clip_windows(path: str, num_frames: int, fps: float, short_side: int, starts_of) -> torch.Tensor:
    """uint8 (W, T, 3, H, W') windows of ``num_frames`` frames at ``fps`` whose starts ``starts_of(n, span)``
    picks; frames decoded with the short side at ``short_side``."""
    from train.data.decode import decode_sampled_frames, video_duration
    from train.families.vimpac.data import window_stride

    duration = video_duration(path)
    chosen = {}

    def indices(n: int) -> list:
        stride = max(1, min(window_stride(n, duration, fps), (n - 1) // max(1, num_frames - 1)))
        span = (num_frames - 1) * stride + 1
        chosen["windows"] = [[min(n - 1, s + i * stride) for i in range(num_frames)] for s in starts_of(n, span)]
        return [i for w in chosen["windows"] for i in w]

    frames = decode_sampled_frames(path, 0, short_side=short_side, indices=indices)
    windows = torch.from_numpy(frames).permute(0, 3, 1, 2)
    return windows.view(len(chosen["windows"]), num_frames, *windows.shape[1:])


def spatial_crops(frames_TCHW: torch.Tensor, size: int, views: int) -> list:
    """``views`` S x S crops along the long side (1: the centre; 3: top-left, centre, bottom-right)."""
    from train.data.transforms import crop_and_resize

    height, width = frames_TCHW.shape[-2:]
    side = min(height, width)
    offsets = [(height - side) // 2, (width - side) // 2]
    if views == 1:
        positions = [offsets]
    else:
        long_axis = 0 if height > width else 1
        positions = []
        for place in (0, 1, 2):
            pos = [0, 0]
            pos[long_axis] = [0, offsets[long_axis], (height, width)[long_axis] - side][place]
            positions.append(pos)
    return [crop_and_resize(frames_TCHW, top, left, side, size) for top, left in positions]


class ActionClips(torch.utils.data.Dataset):
    """(views uint8 (V, T, 3, S, S), label) per video: one random training view, or the test views."""

    def __init__(
        self,
        data,
        num_frames: int,
        size: int,
        fps: float,
        train: bool,
        seed: int = 0,
        temporal_views: int = TEMPORAL_VIEWS,
        spatial_views: int = SPATIAL_VIEWS,
    ):
        self.data, self.num_frames, self.size, self.fps, self.train = data, num_frames, size, fps, train
        self.seed, self.epoch = seed, 0
        self.temporal_views, self.spatial_views = temporal_views, spatial_views

    def __len__(self):
        return len(self.data.video_paths)

    def __getitem__(self, i):
        from train.data.decode import DecodeError
        from train.data.transforms import crop_and_resize

        path, label = self.data.video_paths[i], self.data.labels[i]
        try:
            if not self.train:
                windows = clip_windows(
                    path,
                    self.num_frames,
                    self.fps,
                    self.size,
                    lambda n, span: window_starts(n, span, self.temporal_views),
                )
                views = [crop for w in windows for crop in spatial_crops(w, self.size, self.spatial_views)]
                return torch.stack(views), label
            rng = random.Random(f"{self.seed}/{self.epoch}/{path}")
            short = rng.choice((self.size, round(1.25 * self.size)))
            window = clip_windows(
                path, self.num_frames, self.fps, short, lambda n, span: [rng.randint(0, max(0, n - span))]
            )[0]
            height, width = window.shape[-2:]
            side = round(min(height, width) * self.size / short)  # S of a short side resized to `short`
            top, left = rng.randint(0, height - side), rng.randint(0, width - side)
            view = crop_and_resize(window, top, left, side, self.size)
            return (view.flip(-1) if rng.random() < 0.5 else view)[None], label
        except DecodeError as exc:
            log.warning("%s: %s; left out", path, exc)
            return None, label


def _collate(items):
    kept = [(v, label) for v, label in items if v is not None]
    if not kept:
        return None
    return torch.stack([v for v, _ in kept]), torch.tensor([label for _, label in kept])


def _loader(dataset, batch_size: int, shuffle: bool, num_workers: int, seed: int = 0):
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        collate_fn=_collate,
        generator=torch.Generator().manual_seed(seed),
        multiprocessing_context=worker_context(num_workers),
    )


def resized_model(em, num_frames: int, size: int):
    """A copy of the checkpoint's VIMPAC at ``num_frames`` x ``size``: its weights, the position tables
    interpolated (``Vimpac.adapt_checkpoint_tensors``)."""
    from train.families.vimpac.model import Vimpac

    cfg = em.model_config.replace(num_frames=num_frames, image_size=size, mask_blocks=None)
    model = Vimpac(cfg)
    model.load_state_dict(model.adapt_checkpoint_tensors(em.model.state_dict()))
    return model.to(em.device)


def cls_features(model, frames_BTCHW: torch.Tensor) -> torch.Tensor:
    """[CLS] of the unmasked codes: what the paper's fine-tuning head reads (appendix A.2)."""
    cls, _ = model.encode_codes(model.codes_of(frames_BTCHW.to(next(model.parameters()).device)))
    return cls


def _splits(args):
    from train import datasets

    train = datasets.load_action_split(args.layout, args.train_annotations, args.videos, "train", int(args.split or 1))
    test = datasets.load_action_split(args.layout, args.annotations, args.videos, "test", int(args.split or 1))
    return datasets.align_classes(train, test)


def _require_vimpac(em) -> None:
    if em.family.name != "vimpac":
        raise ValueError(f"VIMPAC's action classification needs a vimpac checkpoint, not {em.family.name}")


@torch.no_grad()
def evaluate_views(model, head, dataset, batch_size: int, num_workers: int) -> dict:
    """Top-1 / top-5 of the class probabilities averaged over each video's views."""
    from train.metrics import topk_accuracy

    model.eval()
    head.eval()
    scores, labels = [], []
    for batch in _loader(dataset, max(1, batch_size // 4), False, num_workers):
        if batch is None:
            continue
        views_BVTCHW, label_B = batch
        B, V = views_BVTCHW.shape[:2]
        logits = head(cls_features(model, views_BVTCHW.flatten(0, 1)).float())
        scores.append(logits.softmax(-1).view(B, V, -1).mean(1).cpu())
        labels.append(label_B)
    if not scores:
        raise ValueError("no test video could be decoded")
    scores_VC, labels_V = torch.cat(scores), torch.cat(labels)
    return {
        "top1": topk_accuracy(scores_VC, labels_V, 1),
        "top5": topk_accuracy(scores_VC, labels_V, 5),
        "num_videos": int(labels_V.shape[0]),
    }


def finetune(em, args) -> dict:
    """``--task action-finetune`` (see the module docstring)."""
    from train.downstream import finetune_steps

    _require_vimpac(em)
    train_set, test_set = _splits(args)
    T, S = args.num_frames or FINETUNE_FRAMES, getattr(args, "image_size", None) or FINETUNE_SIZE
    fps, epochs = FPS[args.layout], args.epochs or EPOCHS[args.layout]
    torch.manual_seed(0)
    model = resized_model(em, T, S)
    head = torch.nn.Linear(model.cfg.width, len(train_set.class_names)).to(em.device)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    lr = args.lr or (5e-5 if model.cfg.width >= 1024 else 1e-4)
    batch = min(BATCH, len(train_set.video_paths))  # a split smaller than the paper's batch: one a step
    micro = min(args.batch_size, batch)
    accum = math.ceil(batch / micro)
    steps = max(1, math.ceil(epochs * len(train_set.video_paths) / (micro * accum)))
    dataset = ActionClips(train_set, T, S, fps, train=True)

    def epoch_batches(epoch: int):
        dataset.epoch = epoch
        return _loader(dataset, micro, True, args.num_workers, seed=epoch)

    def loss_of(batch):
        views, labels = batch
        return F.cross_entropy(head(cls_features(model, views[:, 0]).float()), labels.to(em.device))

    run_dir = Path(args.run_dir)
    finetune_steps(model, head, epoch_batches, loss_of, steps, accum, lr, 0.01, (0.9, 0.999), run_dir)
    torch.save(
        {
            "model": model.state_dict(),
            "head": head.state_dict(),
            "model_config": vars(model.cfg),
            "class_names": list(train_set.class_names),
        },
        run_dir / "finetuned.pt",
    )
    test = ActionClips(test_set, T, S, fps, train=False)
    result = evaluate_views(model, head, test, args.batch_size, args.num_workers)
    return {
        **result,
        "num_classes": len(train_set.class_names),
        "num_frames": T,
        "image_size": S,
        "fps": fps,
        "views": TEMPORAL_VIEWS * SPATIAL_VIEWS,
        "epochs": epochs,
        "steps": steps,
        "lr": lr,
        "train_videos": len(train_set.video_paths),
        "missing_videos": len(test_set.missing),
        "run_dir": str(run_dir),
    }


@torch.no_grad()
def _features(model, data, num_frames: int, size: int, fps: float, batch_size: int, num_workers: int):
    dataset = ActionClips(data, num_frames, size, fps, train=False, temporal_views=1, spatial_views=1)
    feats, labels = [], []
    for batch in _loader(dataset, batch_size, False, num_workers):
        if batch is not None:
            feats.append(cls_features(model, batch[0][:, 0]).float().cpu())
            labels.append(batch[1])
    if not feats:
        raise ValueError("no video could be decoded")
    return torch.cat(feats), torch.cat(labels)


def fit_logistic_regression(
    x_ND: torch.Tensor, y_N: torch.Tensor, num_classes: int, weight_decay: float = 1e-4, max_iter: int = 200
) -> torch.nn.Linear:
    """A linear classifier by L-BFGS on cross-entropy + weight_decay * |W|^2 (full batch, deterministic)."""
    head = torch.nn.Linear(x_ND.shape[1], num_classes)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    optimizer = torch.optim.LBFGS(head.parameters(), max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(head(x_ND), y_N) + weight_decay * head.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return head


def linear_probe(em, args) -> dict:
    """``--task action-linear-probe`` (see the module docstring)."""
    from train.metrics import topk_accuracy

    _require_vimpac(em)
    train_set, test_set = _splits(args)
    fps = FPS[args.layout]
    T, S = em.model_config.num_frames, em.model_config.image_size
    em.model.eval()
    x_train, y_train = _features(em.model, train_set, T, S, fps, args.batch_size, args.num_workers)
    x_test, y_test = _features(em.model, test_set, T, S, fps, args.batch_size, args.num_workers)
    mean, std = x_train.mean(0), x_train.std(0).clamp(min=1e-6)
    head = fit_logistic_regression((x_train - mean) / std, y_train, len(train_set.class_names))
    with torch.no_grad():
        scores = head((x_test - mean) / std)
    return {
        "top1": topk_accuracy(scores, y_test, 1),
        "top5": topk_accuracy(scores, y_test, 5),
        "num_videos": int(y_test.shape[0]),
        "train_videos": int(y_train.shape[0]),
        "num_classes": len(train_set.class_names),
        "num_frames": T,
        "image_size": S,
        "fps": fps,
        "missing_videos": len(test_set.missing),
    }

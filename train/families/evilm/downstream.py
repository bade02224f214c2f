"""E-ViLM's open-ended video question answering (arXiv:2311.17267, section 4, table 1: MSRVTT-QA,
MSVD-QA): ``--task video-qa``. The question and the video's 4 sparsely sampled frames go through the
model as in pre-training (text tokens, video tokens, the fusion decoder); a linear answer head on the
pooled [CLS] classifies over the answer vocabulary: the 1,500 most frequent answers of the training
split (the MSRVTT-QA convention of ClipBERT and all-in-one, whose setting E-ViLM follows). Training
questions with another answer are left out of training; test questions with another answer count as
wrong. The paper gives no fine-tuning recipe ("task-specific learning rates/epochs"); the task's
defaults are its pre-training optimiser: AdamW, lr 1e-4, weight decay 0.01, 10% warm-up then linear
decay, batch 64, 10 epochs (``--lr``, ``--epochs``), frames randomly cropped and flipped in training as
in pre-training, centre-cropped at test.

Multiple choice (table 4, zero-shot MSRVTT-MC) is ``--task multiple-choice``: the option with the
highest matching score.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections import Counter
from pathlib import Path

import torch
import torch.nn.functional as F

from train.data.workers import worker_context

ANSWERS = 1500
BATCH, EPOCHS, LR = 64, 10, 1e-4


def answer_vocabulary(answers, size: int = ANSWERS) -> tuple:
    """The ``size`` most frequent answers, ties in alphabetical order."""
    counts = Counter(answers)
    return tuple(sorted(counts, key=lambda a: (-counts[a], a))[:size])


class QuestionVideos(torch.utils.data.Dataset):
    """(uint8 frames (T, 3, S, S), question, answer index or -1) per question, through the family's
    sample function (training: random crop and flip, from a seeded RNG; test: the centre crop)."""

    def __init__(self, em, data, answer_index: dict, train: bool):
        from train.registry import load

        self.data, self.answer_index, self.train, self.epoch = data, answer_index, train, 0
        self.loader_cfg = dataclasses.replace(em.loader_config(), train=train)
        self.sample = load(em.family.sample)

    def __len__(self):
        return len(self.data.questions)

    def __getitem__(self, i):
        from train.data.decode import DecodeError

        rng = random.Random(f"{self.epoch}/{i}") if self.train else None
        try:
            sample = self.sample({"mp4": self.data.video_paths[i]}, {}, self.loader_cfg, rng)
        except DecodeError:
            return None
        if isinstance(sample, str):
            return None
        return sample["frames_TCHW"], self.data.questions[i], self.answer_index.get(self.data.answers[i], -1)


def _collate(items):
    kept = [item for item in items if item is not None]
    if not kept:
        return None
    return torch.stack([f for f, _, _ in kept]), [q for _, q, _ in kept], torch.tensor([a for _, _, a in kept])


def answer_logits(model, head, em, frames_BTCHW, questions) -> torch.Tensor:
    from train.tokenizer import tokenize

    ids, mask = tokenize(em.tokenizer, questions, em.context_length)
    ids, mask = ids.to(em.device), mask.to(em.device)
    cls, _, _ = model.fuse(model.video_tokens(frames_BTCHW.to(em.device)), model.text_tokens(ids, mask), mask)
    return head(model.pooler(cls)).float()


def video_qa(em, args) -> dict:
    from train import datasets
    from train.downstream import finetune_steps

    if not em.family.supports("video-qa"):
        raise ValueError(f"--task video-qa fine-tunes an E-ViLM (evilm) model, not {em.family.name}")
    train_set = datasets.load_video_qa(args.train_annotations, args.videos)
    test_set = datasets.load_video_qa(args.annotations, args.videos)
    vocabulary = answer_vocabulary(train_set.answers)
    index = {a: i for i, a in enumerate(vocabulary)}
    model = em.model
    torch.manual_seed(0)
    head = torch.nn.Linear(model.cfg.fusion_width, len(vocabulary)).to(em.device)
    torch.nn.init.normal_(head.weight, std=0.02)
    torch.nn.init.zeros_(head.bias)
    trainable = [i for i, a in enumerate(train_set.answers) if a in index]
    train_data = train_set._replace(
        **{
            f: tuple(getattr(train_set, f)[i] for i in trainable)
            for f in ("video_ids", "video_paths", "questions", "answers")
        }
    )
    dataset = QuestionVideos(em, train_data, index, train=True)
    batch = min(BATCH, len(trainable))
    micro = min(args.batch_size, batch)
    accum = math.ceil(batch / micro)
    epochs, lr = args.epochs or EPOCHS, args.lr or LR
    steps = max(1, math.ceil(epochs * len(trainable) / (micro * accum)))

    def epoch_batches(epoch: int):
        dataset.epoch = epoch
        return torch.utils.data.DataLoader(
            dataset,
            batch_size=micro,
            shuffle=True,
            num_workers=args.num_workers,
            collate_fn=_collate,
            generator=torch.Generator().manual_seed(epoch),
            multiprocessing_context=worker_context(args.num_workers),
        )

    def loss_of(b):
        frames, questions, answers = b
        return F.cross_entropy(answer_logits(model, head, em, frames, questions), answers.to(em.device))

    run_dir = Path(args.run_dir)
    history = finetune_steps(model, head, epoch_batches, loss_of, steps, accum, lr, 0.01, (0.9, 0.999), run_dir)
    torch.save(
        {"model": model.state_dict(), "head": head.state_dict(), "answers": list(vocabulary)}, run_dir / "finetuned.pt"
    )
    right, asked, decoded = 0.0, 0, 0
    test = QuestionVideos(em, test_set, index, train=False)
    with torch.no_grad():
        for b in torch.utils.data.DataLoader(
            test,
            batch_size=args.batch_size,
            num_workers=args.num_workers,
            collate_fn=_collate,
            multiprocessing_context=worker_context(args.num_workers),
        ):
            if b is None:
                continue
            frames, questions, answers = b
            predicted = answer_logits(model, head, em, frames, questions).argmax(-1).cpu()
            right += float(((predicted == answers) & (answers >= 0)).sum())
            decoded += len(questions)
    asked = len(test_set.questions)
    return {
        "accuracy": 100.0 * right / max(1, decoded),
        "num_questions": decoded,
        "undecodable_questions": asked - decoded,
        "answer_vocabulary": len(vocabulary),
        "test_answers_in_vocabulary": 100.0 * sum(a in index for a in test_set.answers) / asked,
        "train_questions": len(trainable),
        "steps": steps,
        "epochs": epochs,
        "lr": lr,
        "final_loss": history[-1]["loss"],
        "missing_videos": len(test_set.missing),
        "run_dir": str(run_dir),
    }

"""HD-VILA model library: shapes, the divided space-time attention against a dense masked reference,
the HR stage-3 fusion, weight loading from transformers folders, and the objectives."""

import fnmatch
import math

import pytest
import torch

from train.families.hdvila import (
    STAGE1_PARAMETERS,
    STAGE2_PARAMETERS,
    HDVILAConfig,
    build_model,
    tiny_cpu,
    tiny_cpu_stage1,
    tiny_cpu_stage2,
)
from train.families.hdvila.data import video_inputs
from train.families.hdvila.model import segment_consensus
from train.families.hdvila.objectives import CONTRASTIVE, IGNORE, MLM, mask_tokens
from train.families.hdvila.video import DividedSpaceTimeBlock
from train.families.hdvila.weights import load_weights
from train.model.weights import CheckpointError
from train.objectives import ObjectiveContext


def _batch(cfg, B=4, L=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    S, K = cfg.num_segments, 2 * cfg.num_neighbours
    ids = torch.randint(104, cfg.vocab_size, (B, L), generator=g)
    mask = torch.ones(B, L, dtype=torch.long)
    for b in range(B):  # [CLS] words [SEP] [PAD]...
        length = L - b
        ids[b, 0], ids[b, length - 1] = 101, 102
        ids[b, length:], mask[b, length:] = 0, 0
    return {
        "hr_BSCHW": torch.randint(0, 256, (B, S, 3, *cfg.hr_size), generator=g, dtype=torch.uint8),
        "lr_BSKCHW": torch.randint(0, 256, (B, S, K, 3, *cfg.lr_size), generator=g, dtype=torch.uint8),
        "subtitle_ids": ids,
        "subtitle_mask": mask,
        "has_subtitle": torch.ones(B, dtype=torch.bool),
    }


def _video(batch):
    """The model's video inputs (normalised floats), as the trainer makes them."""
    return video_inputs(batch, torch.device("cpu"))


def _ctx(train_cfg, model_cfg):
    return ObjectiveContext(0, 1, 0, torch.device("cpu"), train_cfg, model_cfg)


def _freeze(model, patterns):
    for name, p in model.named_parameters():
        if any(fnmatch.fnmatchcase(name, pat) for pat in patterns):
            p.requires_grad_(False)


def test_shapes_and_unit_norm():
    cfg = tiny_cpu()
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    batch = _batch(cfg)
    B, S, (h, w), D = 4, cfg.num_segments, cfg.grid_size, cfg.hidden_size
    assert model.video(**_video(batch)).shape == (B, S, h, w, D)
    video = model.encode_video(**_video(batch))
    text = model.encode_text(batch["subtitle_ids"], batch["subtitle_mask"])
    assert video.shape == text.shape == (B, cfg.embed_dim)
    torch.testing.assert_close(video.norm(dim=-1), torch.ones(B))
    torch.testing.assert_close(text.norm(dim=-1), torch.ones(B))
    logits = model.mlm_logits(batch["subtitle_ids"], batch["subtitle_mask"], **_video(batch))
    assert logits.shape == (B, 12, cfg.vocab_size)


def test_paper_sizes_give_the_10x16_grid():
    cfg = tiny_cpu().replace(hr_size=(640, 1024))
    assert HDVILAConfig().lr_size == (160, 256) and HDVILAConfig().grid_size == (10, 16)
    assert HDVILAConfig().frames_per_segment == 7
    model = build_model(cfg).eval()
    with torch.no_grad():
        out = model.video(**_video(_batch(cfg, B=1)))
    assert out.shape == (1, cfg.num_segments, 10, 16, cfg.hidden_size)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"hr_size": (600, 1024)}, "multiples of 64"),
        ({"hidden_size": 30}, "not divisible"),
        ({"segment_consensus": "sum"}, "segment_consensus"),
        ({"num_neighbours": 0}, "num_neighbours"),
    ],
)
def test_bad_config_is_rejected(change, message):
    with pytest.raises(ValueError, match=message):
        tiny_cpu().replace(**change)


def test_wrong_frame_sizes_are_a_clear_error():
    cfg = tiny_cpu()
    model = build_model(cfg)
    batch = _batch(cfg, B=2)
    with pytest.raises(ValueError, match="expected HR frames"):
        video = _video(batch)
        model.encode_video(video["hr_BSCHW"][..., :32], video["lr_BSKCHW"])


def _dense_masked_attention(attn, x_BLD, allowed_LL):
    """Reference: full attention over all tokens with a boolean mask."""
    B, L, D = x_BLD.shape
    q, k, v = attn.qkv(x_BLD).view(B, L, 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4)
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~allowed_LL, float("-inf"))
    return attn.proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(B, L, D))


def test_divided_space_time_attention_matches_a_dense_masked_reference():
    torch.manual_seed(0)
    B, T, N, D = 2, 5, 6, 16
    block = DividedSpaceTimeBlock(D, 4).eval()
    x = torch.randn(B, T, N, D)
    frame = torch.arange(T * N) // N
    cell = torch.arange(T * N) % N
    same_cell = cell[:, None] == cell[None, :]
    same_frame = frame[:, None] == frame[None, :]
    flat = x.reshape(B, T * N, D)
    flat = flat + _dense_masked_attention(block.temporal_attn, block.temporal_norm(flat), same_cell)
    flat = flat + _dense_masked_attention(block.spatial_attn, block.spatial_norm(flat), same_frame)
    flat = flat + block.mlp(block.mlp_norm(flat))
    torch.testing.assert_close(block(x), flat.view(B, T, N, D), atol=1e-5, rtol=1e-5)


def test_hr_stage3_features_enter_the_hybrid_transformer():
    """With the adapter path zeroed, the segment feature still depends on the HR frame (through
    phi(F_hr^3) at the HR position of T_hy) and on the LR neighbours."""
    cfg = tiny_cpu()
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    with torch.no_grad():
        model.video.hr_adapter[0].weight.zero_()
    batch = _batch(cfg, B=1)
    hr, lr = _video(batch).values()
    with torch.no_grad():
        base = model.video(hr, lr)
        other_hr = model.video(-hr, lr)
        other_lr = model.video(hr, -lr)
        model.video.hybrid.blocks[0].temporal_attn.proj.weight.zero_()
        model.video.hybrid.blocks[0].temporal_attn.proj.bias.zero_()
        # without temporal attention the HR-position output no longer sees the LR frames
        no_time = model.video(hr, lr)
        no_time_other_lr = model.video(hr, -lr)
    assert (base - other_hr).abs().max() > 1e-4
    assert (base - other_lr).abs().max() > 1e-4
    torch.testing.assert_close(no_time, no_time_other_lr)


def test_segment_consensus():
    x = torch.randn(2, 3, 4, 5)
    torch.testing.assert_close(segment_consensus(x, "mean"), x.mean(1))
    torch.testing.assert_close(segment_consensus(x, "max"), x.max(1).values)
    torch.testing.assert_close(segment_consensus(x, "lse"), x.exp().sum(1).log())


# --- weights from transformers folders ---------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    from transformers import BertConfig, BertForPreTraining, ResNetConfig, ResNetModel

    cfg = tiny_cpu()
    torch.manual_seed(1)
    root = tmp_path_factory.mktemp("hdvila_weights")
    resnet = ResNetModel(
        ResNetConfig(
            embedding_size=cfg.resnet_embedding_size,
            hidden_sizes=list(cfg.resnet_hidden_sizes),
            depths=list(cfg.resnet_depths),
            layer_type="bottleneck",
        )
    ).eval()
    for m in resnet.modules():  # non-trivial BatchNorm statistics, so that a mix-up would show
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    resnet.save_pretrained(root / "resnet")
    bert = BertForPreTraining(
        BertConfig(
            vocab_size=cfg.vocab_size,
            hidden_size=cfg.hidden_size,
            num_hidden_layers=cfg.language_layers + cfg.fusion_layers,
            num_attention_heads=cfg.num_heads,
            intermediate_size=cfg.intermediate_size,
            max_position_embeddings=cfg.max_position_embeddings,
        )
    ).eval()
    bert.save_pretrained(root / "bert")
    return cfg, root, resnet, bert


def test_resnet_weights_load_and_match_transformers(tiny_weights):
    cfg, root, resnet, _ = tiny_weights
    model = build_model(cfg.replace(resnet_weights=str(root / "resnet"))).eval()
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        want = resnet(x, output_hidden_states=True).hidden_states[1:]  # after each stage
        got_hr = model.video.hr_resnet(x)
        got_lr = model.video.lr_resnet(x)
    assert len(got_hr) == 4 and len(got_lr) == 3
    for stage in range(4):
        torch.testing.assert_close(got_hr[stage], want[stage], atol=1e-5, rtol=1e-4)
    for stage in range(3):
        torch.testing.assert_close(got_lr[stage], want[stage], atol=1e-5, rtol=1e-4)


def test_bert_weights_load_and_match_transformers(tiny_weights):
    cfg, root, _, bert = tiny_weights
    model = build_model(cfg.replace(bert_weights=str(root / "bert"))).eval()
    batch = _batch(cfg)
    ids, mask = batch["subtitle_ids"], batch["subtitle_mask"]
    with torch.no_grad():
        out = bert.bert(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        hidden = out.hidden_states
        language = model.language_states(ids, mask)
        x = language
        from train.families.hdvila.bert import padding_bias

        for layer in model.text.fusion_layers:
            x = layer(x, padding_bias(mask))
        want_logits = bert.cls.predictions(hidden[-1])
        got_logits = model.mlm_head(x)
    keep = mask.bool()
    torch.testing.assert_close(language[keep], hidden[cfg.language_layers][keep], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(x[keep], hidden[-1][keep], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(got_logits[keep], want_logits[keep], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(model.text.pooler.dense.weight, bert.bert.pooler.dense.weight)


def test_weights_that_do_not_fit_are_rejected(tiny_weights):
    cfg, root, _, _ = tiny_weights
    with pytest.raises(CheckpointError, match="does not fit"):
        build_model(cfg.replace(resnet_weights=str(root / "resnet"), resnet_hidden_sizes=(16, 24, 32, 128)))
    with pytest.raises(CheckpointError, match="layers"):
        build_model(cfg.replace(bert_weights=str(root / "bert"), fusion_layers=1))
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        load_weights(build_model(cfg), cfg.replace(bert_weights=str(root)))


# --- objectives ------------------------------------------------------------------------------------


def test_mask_tokens_follows_bert():
    g = torch.Generator().manual_seed(0)
    B, L = 64, 40
    ids = torch.randint(104, 1000, (B, L), generator=g)
    mask = torch.ones(B, L, dtype=torch.long)
    lengths = torch.randint(3, L + 1, (B,), generator=g)
    for b, n in enumerate(lengths.tolist()):
        ids[b, 0], ids[b, n - 1], ids[b, n:], mask[b, n:] = 101, 102, 0, 0
    masked, labels = mask_tokens(ids, mask, 1000, 103, 0.15, generator=g)
    chosen = labels != IGNORE
    assert chosen.any(1).all()  # every row predicts something
    assert not chosen[:, 0].any() and not chosen[mask == 0].any()
    assert not chosen[torch.arange(B), lengths - 1].any()  # [SEP]
    torch.testing.assert_close(labels[chosen], ids[chosen])
    torch.testing.assert_close(masked[~chosen], ids[~chosen])
    rate = chosen.sum() / (lengths - 2).sum()
    assert 0.12 < rate < 0.2
    as_mask = (masked[chosen] == 103).float().mean()
    assert 0.7 < as_mask < 0.9


def _steps(model, objective, name, batch, ctx, steps=6, lr=2e-3):
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr)
    losses = []
    for _ in range(steps):
        torch.manual_seed(123)  # the same MLM masks every step: a fixed batch
        loss = objective(model, batch, ctx)[name]
        losses.append(float(loss.detach()))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return losses


def test_contrastive_steps_decrease_the_loss():
    cfg = tiny_cpu()
    torch.manual_seed(0)
    model = build_model(cfg).train()
    _freeze(model, STAGE2_PARAMETERS)
    batch = _batch(cfg)
    ctx = _ctx(tiny_cpu_stage1(), cfg)
    assert float(MLM(model, batch, ctx)["mlm"]) == 0.0  # stage 1 does not run the MLM branch
    losses = _steps(model, CONTRASTIVE, "contrastive", batch, ctx)
    assert losses[-1] < losses[0] - 0.3, losses
    # the stage-1 loss gives every parameter it trains a gradient
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_mlm_steps_decrease_the_loss_with_stage1_frozen():
    cfg = tiny_cpu()
    torch.manual_seed(0)
    model = build_model(cfg).train()
    _freeze(model, STAGE1_PARAMETERS)
    model.train()  # frozen parts stay in eval mode: BatchNorm statistics of the towers do not drift
    assert not model.video.training and model.text.fusion_layers.training
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    frozen.update((f"buffer {n}", b.clone()) for n, b in model.video.named_buffers())
    assert any(n.startswith("video.") for n in frozen) and "text.language_layers.0.output.dense.weight" in frozen
    assert not any(n.startswith(("text.fusion_layers", "mlm_head", "visual_embeddings")) for n in frozen)
    batch = _batch(cfg)
    ctx = _ctx(tiny_cpu_stage2(), cfg)
    assert CONTRASTIVE(model, batch, ctx) == {"contrastive": 0.0}  # stage 2 does not run the towers alone
    losses = _steps(model, MLM, "mlm", batch, ctx)
    assert losses[-1] < losses[0] - 0.3, losses
    now = {**dict(model.named_parameters()), **{f"buffer {n}": b for n, b in model.video.named_buffers()}}
    for name, before in frozen.items():
        torch.testing.assert_close(now[name], before, msg=name)


def test_mlm_uses_the_video():
    cfg = tiny_cpu()
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    batch = _batch(cfg)
    ids, mask = batch["subtitle_ids"], batch["subtitle_mask"]
    with torch.no_grad():
        video = _video(batch)
        a = model.mlm_logits(ids, mask, **video)
        b = model.mlm_logits(ids, mask, -video["hr_BSCHW"], video["lr_BSKCHW"])
    assert (a - b).abs().max() > 1e-6  # small at init (0.02-std weights), exactly 0 if not connected


def test_mlm_with_nothing_to_predict_is_zero():
    cfg = tiny_cpu()
    model = build_model(cfg)
    batch = _batch(cfg, B=2, L=2)  # [CLS] [SEP] only
    loss = MLM(model, batch, _ctx(tiny_cpu_stage2(), cfg))["mlm"]
    assert float(loss.detach()) == 0.0 and loss.requires_grad


def test_paper_preset_has_resnet50_and_bert_large_layouts():
    """The paper's model (built on the meta device: no memory) names and shapes every ResNet-50 and
    BERT-large tensor as transformers does, so real checkpoints load."""
    from transformers import BertConfig, BertForPreTraining, ResNetConfig, ResNetModel

    from train.families.hdvila import hdvila_paper
    from train.families.hdvila.model import HDVILA

    with torch.device("meta"):
        model = HDVILA(hdvila_paper())
        resnet = ResNetModel(ResNetConfig())  # transformers' defaults are ResNet-50
        bert = BertForPreTraining(
            BertConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096)
        )
    want = {k: v.shape for k, v in resnet.state_dict().items()}
    assert {k: v.shape for k, v in model.video.hr_resnet.state_dict().items()} == want
    lr = {k: v.shape for k, v in model.video.lr_resnet.state_dict().items()}
    assert lr == {k: v for k, v in want.items() if not k.startswith("encoder.stages.3.")}
    bert_shapes = {k: v.shape for k, v in bert.bert.state_dict().items() if not k.endswith("position_ids")}
    ours = {}
    for k, v in model.text.state_dict().items():
        for part, offset in (("language_layers.", 0), ("fusion_layers.", 12)):
            if k.startswith(part):
                i, rest = k[len(part) :].split(".", 1)
                k = f"encoder.layer.{int(i) + offset}.{rest}"
        ours[k] = v.shape
    assert ours == bert_shapes
    assert sum(p.numel() for p in model.text.parameters()) > 330e6  # BERT-large


@pytest.mark.parametrize("stage", [1, 2])
def test_gradient_checkpointing_gives_the_same_gradients(stage, monkeypatch):
    from train.families.hdvila import resnet

    recomputed = []

    def counting_checkpoint(module, *args, **kwargs):
        recomputed.append(type(module).__name__)
        return torch.utils.checkpoint.checkpoint(module, *args, **kwargs)

    monkeypatch.setattr(resnet, "checkpoint", counting_checkpoint)
    cfg = tiny_cpu().replace(resnet_norm_eval=True)  # ResNet stages are recomputed only with frozen BN stats
    batch = _batch(cfg)
    grads = []
    for recompute in (False, True):
        torch.manual_seed(0)
        model = build_model(cfg.replace(grad_checkpointing=recompute))
        train_cfg = tiny_cpu_stage1() if stage == 1 else tiny_cpu_stage2()
        _freeze(model, train_cfg.freeze)
        model.train()
        torch.manual_seed(1)
        objective = CONTRASTIVE if stage == 1 else MLM
        sum(objective(model, batch, _ctx(train_cfg, cfg)).values()).backward()
        grads.append({n: p.grad for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) > 10
    # stage 1 recomputes the trained towers; stage 2 only the trained multi-modal layers
    assert set(recomputed) == ({"Stage", "DividedSpaceTimeBlock", "Layer"} if stage == 1 else {"Layer"})
    for name, grad in grads[0].items():
        torch.testing.assert_close(grads[1][name], grad, atol=1e-6, rtol=1e-5, msg=name)


def test_resnet_weights_from_an_image_classification_folder(tmp_path):
    """microsoft/resnet-50 is saved as ResNetForImageClassification (tensors under ``resnet.``)."""
    from transformers import ResNetConfig, ResNetForImageClassification

    cfg = tiny_cpu()
    torch.manual_seed(2)
    classifier = ResNetForImageClassification(
        ResNetConfig(
            embedding_size=cfg.resnet_embedding_size,
            hidden_sizes=list(cfg.resnet_hidden_sizes),
            depths=list(cfg.resnet_depths),
            num_labels=5,
        )
    ).eval()
    classifier.save_pretrained(tmp_path / "classifier")
    model = build_model(cfg.replace(resnet_weights=str(tmp_path / "classifier"))).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        want = classifier.resnet(x).last_hidden_state
        torch.testing.assert_close(model.video.hr_resnet(x)[3], want, atol=1e-5, rtol=1e-4)


def test_accumulated_micro_batches_give_the_gradients_of_the_whole_batch():
    """Both objectives are split into features + loss, so the trainer's GradCache applies: two
    micro-batches of 2 give the stage-1 gradients of one batch of 4 (all 4 clips are negatives)."""
    from train.fit import TrainStep, accumulate_contrastive

    cfg = tiny_cpu().replace(resnet_norm_eval=True)  # BatchNorm statistics must not depend on the split
    train_cfg = tiny_cpu_stage1()
    objectives = {"contrastive": CONTRASTIVE, "mlm": MLM}
    batch = _batch(cfg, B=4, L=12)
    results = []
    for parts in (1, 2):
        torch.manual_seed(0)
        model = build_model(cfg)
        _freeze(model, train_cfg.freeze)
        step = TrainStep(model, objectives).train()
        micro = [{k: v[i * 4 // parts : (i + 1) * 4 // parts] for k, v in batch.items()} for i in range(parts)]
        weights = {"contrastive": 1.0, "mlm": 0.0}
        loss, _ = accumulate_contrastive(step, objectives, micro, _ctx(train_cfg, cfg), weights)
        results.append((float(loss), {n: p.grad for n, p in model.named_parameters() if p.grad is not None}))
    (whole, whole_grads), (split, split_grads) = results
    assert split == pytest.approx(whole, rel=1e-5)
    assert whole_grads.keys() == split_grads.keys()
    for name, grad in whole_grads.items():
        torch.testing.assert_close(split_grads[name], grad, atol=5e-5, rtol=1e-4, msg=name)

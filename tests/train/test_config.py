"""Training presets and command-line overrides."""

import pytest

from train.config import TrainConfig, apply_overrides, get_preset, model_config, parse_overrides
from train.fit import lr_factor, param_groups
from train.registry import train_presets


def test_presets_build_and_reference_model_presets():
    for name, preset in train_presets().items():
        cfg = preset()
        assert model_config(cfg).context_length >= 1, name  # every family: text is shared
    assert model_config(get_preset("vidla-b16")).grad_checkpointing
    assert get_preset("vidla-b32-mst").model == "vidla-b32-mst"  # ablations train with the B/32 recipe
    with pytest.raises(ValueError, match="unknown config"):
        get_preset("nope")


def test_overrides_in_every_spelling_are_typed():
    tokens = [
        "--steps",
        "20",
        "--batch-size=4",
        "lr=1e-4",
        "crop_scales=1.0,0.9",
        "grad_checkpointing=true",
        "clip_weights=none",
        "model.tube_mask_ratio=0.5",
        "--model.num_frames",
        "8",
        "loss_weights=caption:0.5,subtitle:2",
        "freeze=text_model.*,logit_scale",
    ]
    cfg = apply_overrides(get_preset("vidla-tiny-cpu"), parse_overrides(tokens))
    assert (cfg.steps, cfg.batch_size, cfg.lr, cfg.crop_scales) == (20, 4, 1e-4, (1.0, 0.9))
    assert cfg.loss_weights == {"caption": 0.5, "subtitle": 2}
    assert cfg.freeze == ("text_model.*", "logit_scale")
    assert cfg.grad_checkpointing is True and cfg.clip_weights is None
    mcfg = model_config(cfg)
    assert (mcfg.tube_mask_ratio, mcfg.num_frames, mcfg.grad_checkpointing) == (0.5, 8, True)


@pytest.mark.parametrize(
    "tokens, message",
    [
        (["--stepz", "3"], "unknown TrainConfig field"),
        (["steps=abc"], "bad value for TrainConfig.steps"),
        (["model.nope=1"], "unknown ModelConfig field"),
        (["--steps"], "has no value"),
        (["min_lr=1"], "min_lr"),
        (["crop_scales=big"], "crop_scales"),
        (["grad_clip=0"], "grad_clip must be > 0"),
        (["warmup_steps=-1"], "warmup_steps must be >= 0"),
        (["loss_weights=caption"], "name:value"),
        (["loss_weights=caption:x"], "loss_weights"),
    ],
)
def test_bad_overrides_are_clear_errors(tokens, message):
    with pytest.raises(ValueError, match=message):
        apply_overrides(get_preset("vidla-tiny-cpu"), parse_overrides(tokens))


def test_cosine_schedule_with_warmup_ends_at_min_lr():
    cfg = TrainConfig(steps=100, warmup_steps=10, lr=2e-5, min_lr=4e-8)
    assert lr_factor(0, cfg) == pytest.approx(0.1)
    assert lr_factor(9, cfg) == pytest.approx(1.0)
    assert lr_factor(10, cfg) == pytest.approx(1.0)
    assert lr_factor(55, cfg) == pytest.approx((1 + 4e-8 / 2e-5) / 2)
    assert lr_factor(100, cfg) * cfg.lr == pytest.approx(4e-8)


def test_no_weight_decay_on_norms_biases_embeddings_and_logit_scale():
    from train.model import build_model

    model = build_model(model_config(get_preset("vidla-tiny-cpu")))
    decay, no_decay = param_groups(model, 0.02)
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    assert decay["weight_decay"] == 0.02 and no_decay["weight_decay"] == 0.0
    assert "vision_model.embeddings.patch_embedding.weight" in decayed
    assert "text_projection.weight" in decayed
    for name in decayed:
        assert not any(
            k in name for k in ("bias", "norm", "embedding.weight", "logit_scale", "mst_embedding")
        ) or name.endswith("patch_embedding.weight"), name
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_lr_scales_give_the_matched_parameters_their_own_rate_and_reject_unmatched_globs():
    from train.model import build_model

    cfg = apply_overrides(get_preset("vidla-tiny-cpu"), parse_overrides(["lr_scales=*temporal*:10,*mst*:5"]))
    assert cfg.lr_scales == {"*temporal*": 10, "*mst*": 5}
    model = build_model(model_config(cfg))
    groups = param_groups(model, 0.02, cfg.lr, cfg.lr_scales)
    names = {id(p): n for n, p in model.named_parameters()}
    by_lr = {}
    for g in groups:
        by_lr.setdefault(g.get("lr"), set()).update(names[id(p)] for p in g["params"])
    assert "vision_model.embeddings.temporal_embedding" in by_lr[cfg.lr * 10]
    assert "vision_model.encoder.layers.0.temporal_attn.q_proj.weight" in by_lr[cfg.lr * 10]
    assert by_lr[cfg.lr * 5] == {"vision_model.embeddings.mst_embedding"}
    assert "text_projection.weight" in by_lr[None]  # the optimizer's own lr
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    with pytest.raises(ValueError, match="match no trainable parameter"):
        param_groups(model, 0.02, cfg.lr, {"*tempral*": 10})
    with pytest.raises(ValueError, match="lr_scales"):
        TrainConfig(lr_scales={"*": 0})


def test_linear_schedule_and_a_run_that_is_part_of_a_longer_schedule():
    cfg = TrainConfig(steps=100, warmup_steps=10, lr=1e-3, min_lr=0.0, lr_schedule="linear")
    assert lr_factor(9, cfg) == pytest.approx(1.0)
    assert lr_factor(55, cfg) == pytest.approx(0.5)  # halfway through the decay
    assert lr_factor(100, cfg) == pytest.approx(0.0)
    # the last 20 steps of that schedule as a run of their own continue where the first 80 stop
    first = cfg.replace(steps=80, schedule_steps=100)
    last = cfg.replace(steps=20, schedule_steps=100, schedule_offset=80)
    assert [lr_factor(s, first) for s in (0, 79)] == [lr_factor(s, cfg) for s in (0, 79)]
    assert [lr_factor(s, last) for s in range(21)] == pytest.approx([lr_factor(80 + s, cfg) for s in range(21)])
    with pytest.raises(ValueError, match="run past"):
        cfg.replace(steps=30, schedule_steps=100, schedule_offset=80)
    with pytest.raises(ValueError, match="lr_schedule"):
        cfg.replace(lr_schedule="exponential")

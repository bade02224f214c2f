"""The model registry: a second family trains and evaluates through the shared loader, loop and eval
with its own sample function and named losses; presets, aliases, loss weights, init_from, freeze."""

import json
import math
from dataclasses import dataclass, replace

import pytest
import torch
import torch.nn.functional as F
from factories import fit_args
from torch import nn

from train import registry
from train.__main__ import main
from train.checkpoint import load_checkpoint
from train.config import get_preset, model_config
from train.data.transforms import center_crop, normalize
from train.families.vidla.config import tiny_cpu as vidla_tiny_model
from train.loss import info_nce
from train.objectives import Contrastive
from train.registry import Family, register_family

# --- a second family, written against the registry's contract only -----------------------------


def probe_sample(raw, meta, cfg, rng):
    """Two fields of other shapes than VidLA's: 2 frames at 16 px and the middle frame at 32 px."""
    from train.data.decode import decode_sampled_frames

    frames_TCHW = torch.from_numpy(decode_sampled_frames(raw["mp4"], 3, short_side=48)).permute(0, 3, 1, 2)
    return {
        "clip_TCHW": center_crop(frames_TCHW[[0, 2]], cfg.model_config.size),
        "still_CHW": center_crop(frames_TCHW[1:2], 2 * cfg.model_config.size)[0],
    }


def probe_inputs(batch, device):
    return {
        "clip_BTCHW": normalize(batch["clip_BTCHW"].to(device)),
        "still_BCHW": normalize(batch["still_BCHW"].to(device)[:, None])[:, 0],
    }


class Probe(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.video = nn.Linear(3 * 2 * cfg.size**2 + 3 * 4 * cfg.size**2, cfg.dim)
        self.token = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.text_head = nn.Linear(cfg.dim, cfg.dim)
        self.logit_scale = nn.Parameter(torch.tensor(2.0))

    def encode_video(self, clip_BTCHW, still_BCHW):
        x = torch.cat([clip_BTCHW.flatten(1), still_BCHW.flatten(1)], dim=1)
        return F.normalize(self.video(x), dim=-1)

    def encode_text(self, ids_BL, mask_BL):
        pooled = (self.token(ids_BL) * mask_BL[..., None]).sum(1) / mask_BL.sum(1, keepdim=True)
        return F.normalize(self.text_head(pooled), dim=-1)


def probe_features(model, batch, ctx):
    return {
        "video": model.encode_video(**probe_inputs(batch, ctx.device)),
        "caption": model.encode_text(batch["caption_ids"], batch["caption_mask"]),
        "has_caption": batch["has_caption"],
        "logit_scale": model.logit_scale,
    }


def probe_loss(feats, ctx):
    nce = info_nce(feats["video"], feats["caption"], feats["logit_scale"], feats["has_caption"])
    return {"nce": nce}


PROBE_OBJECTIVE = Contrastive(probe_features, probe_loss)


def probe_l2(model, batch, ctx):
    """A second, non-contrastive objective: weight decay of the video head as a named loss."""
    return {"l2": model.video.weight.pow(2).sum()}


@dataclass(frozen=True)
class ProbeConfig:
    size: int = 16  # frame side of the 2-frame clip; the still frame is twice as large
    dim: int = 16  # embedding width
    vocab_size: int = 1000  # token ids the tokenizer may emit
    context_length: int = 32  # text tokens


def probe_tiny_cpu():
    return get_preset("vidla-tiny-cpu").replace(model="probe-tiny", steps=2, batch_size=3, lr=1e-2)


@pytest.fixture
def probe_family():
    family = register_family(
        Family(
            name="probe",
            model_config=ProbeConfig,
            model_presets={"probe-tiny": ProbeConfig},
            train_presets={"probe-tiny-cpu": probe_tiny_cpu},
            default_preset="probe-tiny-cpu",
            build=f"{__name__}:Probe",
            sample=f"{__name__}:probe_sample",
            video_inputs=f"{__name__}:probe_inputs",
            objectives={"nce": f"{__name__}:PROBE_OBJECTIVE", "l2": f"{__name__}:probe_l2"},
            loss_weights={"nce": 1.0, "l2": 1e-3},
        )
    )
    yield family
    registry.FAMILIES.pop("probe")


def _records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _fit(shards, run, config, *extra):
    return main(fit_args(shards, run, *extra, config=config))


def test_a_second_family_trains_and_evaluates_through_the_shared_code(probe_family, tiny_shards, tmp_path, capsys):
    run = tmp_path / "probe"
    assert _fit(tiny_shards, run, "probe-tiny-cpu", "loss_weights=l2:0.01") == 0
    records = _records(run)
    assert [r["step"] for r in records] == [1, 2]
    for r in records:
        assert set(r["losses"]) == {"nce", "l2"}
        assert r["loss"] == pytest.approx(r["losses"]["nce"] + 0.01 * r["losses"]["l2"], rel=1e-5)
    state = load_checkpoint(run)
    assert state["family"] == "probe" and state["model_config"]["size"] == 16
    assert main(["eval", "--checkpoint", str(run), "--shards", str(tiny_shards), "--text", "caption"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["num_videos"] == result["num_texts"] == 7 and result["t2v"]["R@10"] == 100.0
    assert main(["eval", "--checkpoint", str(run), "--shards", str(tiny_shards), "--text", "caption", "--dsl"]) == 2
    assert "--dsl needs the model's logit scale" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    assert "probe: probe-tiny-cpu" in capsys.readouterr().out


def test_preset_names_are_unique_across_families_and_tiny_cpu_is_an_alias(probe_family):
    assert get_preset("tiny-cpu") == get_preset("vidla-tiny-cpu")
    assert get_preset("vidla-b32-mst") == get_preset("vidla-b32").replace(model="vidla-b32-mst")
    assert model_config(get_preset("tiny-cpu").replace(model="tiny-cpu")) == vidla_tiny_model()
    assert isinstance(model_config(get_preset("probe-tiny-cpu")), ProbeConfig)
    clash = replace(probe_family, name="other", train_presets={"vidla-b32": probe_tiny_cpu}, default_preset="vidla-b32")
    with pytest.raises(ValueError, match="already belong to family"):
        register_family(clash)
    with pytest.raises(ValueError, match="unknown config"):
        get_preset("nope")


def test_loss_weights_select_named_losses_and_unknown_names_fail(tiny_shards, tmp_path, capsys):
    run = tmp_path / "captions-only"
    assert _fit(tiny_shards, run, "vidla-tiny-cpu", "--steps", "1", "--batch-size", "3", "loss_weights=subtitle:0") == 0
    (record,) = _records(run)
    assert set(record["losses"]) == {"subtitle", "caption"}
    assert record["loss"] == record["losses"]["caption"] and record["losses"]["subtitle"] > 0
    assert _fit(tiny_shards, tmp_path / "bad", "vidla-tiny-cpu", "loss_weights=sutitle:1") == 2
    assert "not losses of family vidla" in capsys.readouterr().err


def test_init_from_another_run_with_a_frozen_tower(tiny_shards, tmp_path, capsys):
    first = tmp_path / "stage1"
    assert _fit(tiny_shards, first, "vidla-tiny-cpu", "--steps", "1", "--batch-size", "3") == 0
    stage1 = load_checkpoint(first)["model"]
    second = tmp_path / "stage2"
    assert (
        _fit(
            tiny_shards,
            second,
            "vidla-tiny-cpu",
            "--steps",
            "1",
            "--batch-size",
            "3",
            f"init_from={first}",
            "freeze=text_model.*,logit_scale",
        )
        == 0
    )
    stage2 = load_checkpoint(second)
    assert stage2["step"] == 1  # a new run: step, optimizer and data start afresh
    for name, tensor in stage2["model"].items():
        if name.startswith("text_model.") or name == "logit_scale":
            assert torch.equal(tensor, stage1[name]), name  # loaded, then frozen
    trained = [n for n in stage1 if n.startswith("vision_model.") and not torch.equal(stage1[n], stage2["model"][n])]
    assert trained  # the video tower went on learning from the loaded weights

    # a model of another shape cannot start from it; a freeze pattern must match something
    assert (
        _fit(
            tiny_shards,
            tmp_path / "wide",
            "vidla-tiny-cpu",
            "--steps",
            "1",
            f"init_from={first}",
            "model.embed_dim=16",
        )
        == 2
    )
    assert "another shape" in capsys.readouterr().err
    assert _fit(tiny_shards, tmp_path / "typo", "vidla-tiny-cpu", "--steps", "1", "freeze=txt_model.*") == 2
    assert "matches no parameter" in capsys.readouterr().err


def test_every_train_preset_names_its_family_model():
    for family in registry.families().values():
        for name, preset in family.train_presets.items():
            cfg = preset()
            assert registry.family_of_model(cfg.model) is family, name
            assert math.isfinite(model_config(cfg).context_length)


# --- VidLA as a family folder: what was written before the move still loads ----------------------

BEFORE_MOVE = __import__("pathlib").Path(__file__).parent / "data" / "vidla_checkpoint_before_family_folder.pt"


def test_a_vidla_checkpoint_written_before_the_family_folder_loads_and_computes_the_same():
    """The file was written by the code before train/families/vidla/ (train.model.vidla.VidLA, family
    name "vidla", model config as a dict) with the embeddings of a fixed input: it loads through the
    registry and the moved model gives the same numbers."""
    from train.model_file import read_model_file

    found = read_model_file(BEFORE_MOVE)
    assert found.family.name == "vidla"
    model = registry.load(found.family.build)(found.model_config).eval()
    model.load_state_dict(found.weights)
    expected = torch.load(BEFORE_MOVE, weights_only=True)["expected"]
    with torch.no_grad():
        torch.testing.assert_close(model.encode_video(expected["frames"]), expected["video"], rtol=0, atol=0)
        torch.testing.assert_close(
            model.encode_text(expected["ids"], expected["mask"]), expected["text"], rtol=0, atol=0
        )


def test_a_checkpoint_that_records_no_family_is_still_read_as_vidla(tmp_path):
    from train.model_file import read_model_file

    state = torch.load(BEFORE_MOVE, weights_only=True)
    del state["family"]
    torch.save(state, tmp_path / "old.pt")
    assert read_model_file(tmp_path / "old.pt").family.name == "vidla"


def test_the_import_paths_from_before_the_vidla_folder_still_work():
    """``from train.model import ModelConfig, PRESETS, build_model`` (train.model's documented use) and the
    objective module scripts imported; the registry's lazy paths name the family folder."""
    import train.model
    from train.families.vidla.config import ModelConfig
    from train.families.vidla.objectives import VIDEO_TEXT
    from train.objectives.video_text import VIDEO_TEXT as old_video_text

    assert train.model.ModelConfig is ModelConfig and "vidla-b32" in train.model.PRESETS
    assert old_video_text is VIDEO_TEXT
    assert type(train.model.build_model(vidla_tiny_model())).__module__ == "train.families.vidla.model"
    with pytest.raises(AttributeError):
        _ = train.model.VidLA

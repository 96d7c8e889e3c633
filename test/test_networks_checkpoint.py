"""Checkpoints (round trip, fp16, wrong config, truncated/foreign files), pretrained weights, `info`."""
from __future__ import annotations

import argparse
import json
import os

import pytest
import torch
import torchvision

from rgbt_tracker_ros import __version__
from rgbt_tracker_ros.cli import info
from rgbt_tracker_ros.errors import CheckpointError, InputError
from rgbt_tracker_ros.networks import backbones
from rgbt_tracker_ros.networks.checkpoint import interpolate_weights, load_checkpoint, load_model, save_checkpoint
from rgbt_tracker_ros.networks.config import build_model

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def student():
    torch.manual_seed(0)
    return build_model("student-tiny", pretrained="none").eval()


@pytest.fixture(scope="module")
def saved(student, tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "student.pth"
    save_checkpoint(path, student, training_data="synthetic: 4 scenarios x 20 frames", extra={"epoch": 3, "loss": 0.5})
    return path


def _outputs(model):
    torch.manual_seed(5)
    rgb, tir = torch.rand(1, 3, 64, 64), torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        feats = model.extract_features(rgb, tir)
        return model.classifier.extract_classification_feat(feats.fused["layer3"]), feats.path_weights["layer3"]


def test_round_trip_restores_weights_and_metadata(student, saved):
    model, meta = load_checkpoint(saved, config="student-tiny")
    assert not model.training
    for (a, b) in zip(_outputs(student), _outputs(model)):
        torch.testing.assert_close(a, b)
    assert meta["config"] == student.config and meta["code_version"] == __version__
    assert meta["training_data"] == "synthetic: 4 scenarios x 20 frames" and meta["extra"] == {"epoch": 3, "loss": 0.5}
    assert meta["dtype"] == "float32" and "state_dict" not in meta
    assert isinstance(load_model(saved), type(student))


def test_fp16_storage_halves_the_file(student, saved, tmp_path):
    half = save_checkpoint(tmp_path / "half.pth", student, training_data="x", fp16=True)
    assert os.path.getsize(half) < 0.55 * os.path.getsize(saved)
    assert os.path.getsize(half) <= 20 * 1024 * 1024  # the bundled demo checkpoint limit
    model, meta = load_checkpoint(half)
    assert meta["dtype"] == "float16" and next(model.parameters()).dtype == torch.float32
    for (a, b) in zip(_outputs(student), _outputs(model)):
        torch.testing.assert_close(a, b, atol=2e-2, rtol=2e-2)


def test_wrong_config_names_the_differences(saved):
    with pytest.raises(CheckpointError, match=r"made for config 'student-tiny', not 'teacher-tiny'.*kind"):
        load_checkpoint(saved, config="teacher-tiny")
    with pytest.raises(CheckpointError, match="input_size"):
        load_checkpoint(saved, config="student-r18")


def test_truncated_missing_and_foreign_files_fail_clearly(saved, tmp_path):
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(saved.read_bytes()[: os.path.getsize(saved) // 2])
    with pytest.raises(CheckpointError, match="truncated.pth: not a readable checkpoint"):
        load_checkpoint(truncated)
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "absent.pth")
    foreign = tmp_path / "foreign.pth"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="not an rgbt_tracker_ros checkpoint"):
        load_checkpoint(foreign)


class _Exploit:
    """Unpickling this would create a marker file: loading must refuse to run it."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_loading_never_executes_code_from_the_file(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"format": "rgbt_tracker_ros.checkpoint/1", "payload": _Exploit(str(marker))}, evil)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(evil)
    assert not marker.exists()


def test_weights_that_do_not_fit_the_stored_config(student, saved, tmp_path):
    payload = torch.load(saved, weights_only=True)
    payload["config"]["clf_feature_dim"] = 32  # the weights were made for 64
    edited = tmp_path / "edited.pth"
    torch.save(payload, edited)
    with pytest.raises(CheckpointError, match="weights do not fit config 'student-tiny': shape mismatch"):
        load_checkpoint(edited)


def test_interpolation_mixes_floating_tensors_and_keeps_counters():
    torch.manual_seed(1)
    base, tuned = build_model("student-tiny", pretrained="none"), build_model("student-tiny", pretrained="none")
    base_state = {k: v.clone() for k, v in base.state_dict().items()}
    tuned_state = {k: v.clone() for k, v in tuned.state_dict().items()}
    counter = next(k for k, v in tuned_state.items() if not v.is_floating_point())
    tuned.state_dict()[counter].fill_(7)
    interpolate_weights(base, tuned, 0.25)
    mixed = tuned.state_dict()
    for key, value in tuned_state.items():
        if value.is_floating_point():
            torch.testing.assert_close(mixed[key], 0.75 * base_state[key] + 0.25 * value)
    assert int(mixed[counter]) == 7


def test_interpolation_ends_are_the_two_models_and_bad_input_is_refused():
    torch.manual_seed(2)
    base, tuned = build_model("student-tiny", pretrained="none"), build_model("student-tiny", pretrained="none")
    tuned_state = {k: v.clone() for k, v in tuned.state_dict().items()}
    interpolate_weights(base, tuned, 1.0)
    assert all(torch.equal(tuned.state_dict()[k], v) for k, v in tuned_state.items())
    interpolate_weights(base, tuned, 0.0)
    assert all(torch.equal(tuned.state_dict()[k], v) for k, v in base.state_dict().items() if v.is_floating_point())
    for bad in (-0.1, 1.5, True, "0.5"):
        with pytest.raises(InputError, match=r"interpolation weight must be a number in \[0, 1\]"):
            interpolate_weights(base, tuned, bad)
    other = build_model("teacher-tiny", pretrained="none")
    with pytest.raises(CheckpointError, match="cannot interpolate config 'student-tiny' with 'teacher-tiny'"):
        interpolate_weights(other, tuned, 0.5)


def test_extra_must_be_json_like(student, tmp_path):
    with pytest.raises(InputError, match="JSON-like"):
        save_checkpoint(tmp_path / "x.pth", student, training_data="x", extra={"bad": object()})


def test_pretrained_backbone_from_a_local_torchvision_file(tmp_path):
    torch.manual_seed(3)
    full = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(full.state_dict(), path)
    model = build_model("student-tiny", pretrained=str(path))
    assert model.backbone_pretrained
    torch.testing.assert_close(model.backbone.layer3[0].conv1.weight, full.layer3[0].conv1.weight)
    with pytest.raises(CheckpointError, match="pretrained backbone file not found"):
        build_model("student-tiny", pretrained=str(tmp_path / "missing.pth"))
    wrong = tmp_path / "wrong.pth"
    torch.save({"conv.weight": torch.zeros(1)}, wrong)
    with pytest.raises(CheckpointError, match="not a torchvision resnet18 state dict"):
        build_model("student-tiny", pretrained=str(wrong))


def test_uncached_imagenet_weights_warn_without_downloading(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))  # an empty cache

    def no_download(*args, **kwargs):
        raise AssertionError("must not download without allow_download")

    monkeypatch.setattr(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.__class__, "get_state_dict", no_download)
    with pytest.warns(UserWarning, match="not cached"):
        model = build_model("student-tiny", pretrained="imagenet")
    assert not model.backbone_pretrained
    # A cached file is used without any download.
    cached = backbones.cached_imagenet_file("resnet18")
    cached.parent.mkdir(parents=True)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), cached)
    assert build_model("student-tiny", pretrained="imagenet").backbone_pretrained


def _run_info(*argv):
    parser = argparse.ArgumentParser()
    info.register(parser.add_subparsers())
    args = parser.parse_args(["info", *argv])
    return args.func(args)


def test_info_reports_counts_flops_and_shapes(capsys, saved, student):
    assert _run_info("student-tiny", "--input-size", "64", "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["parameters"]["built"] == sum(p.numel() for p in student.parameters())
    flops = summary["flops_per_frame"]
    assert flops["total"] == flops["features"] + flops["classifier"] + flops["iou_net"] > 0
    # classifier: 3x3 conv 256 -> 64 on 4x4 + 4x4 filter correlation on 4x4 -> 5x5, 2 FLOPs per MAC
    assert flops["classifier"] == 2 * (4 * 4 * 64 * 256 * 9 + 5 * 5 * 64 * 16)
    assert summary["shapes"]["score map"] == [1, 1, 5, 5]
    assert summary["shapes"]["initial_fusions layer3"] == [1, 3, 256, 4, 4]
    assert _run_info(str(saved), "--input-size", "64") == 0
    text = capsys.readouterr().out
    assert "training data: synthetic: 4 scenarios x 20 frames" in text and "GFLOPs" in text
    with pytest.raises(InputError, match="unknown network config"):
        _run_info("student-huge")

"""`rgbt-tracker import-weights --from pytracking`: DiMP18 -> student, DiMP50 -> teacher, with pytracking's
real key names and shapes (transcribed below from its model definitions), pytracking-style checkpoint
files whose pickles name classes that do not exist here, and files that must be refused."""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import sys
import types
from collections import OrderedDict
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from rgbt_tracker_ros.cli.main import main
from rgbt_tracker_ros.data.synthetic import generate_sequence, make_specs
from rgbt_tracker_ros.errors import CheckpointError, InputError
from rgbt_tracker_ros.networks.checkpoint import load_checkpoint, save_checkpoint
from rgbt_tracker_ros.networks.config import build_model
from rgbt_tracker_ros.networks.import_pytracking import (PytrackingPlaceholder, import_pytracking,
                                                         read_pytracking_checkpoint)
from rgbt_tracker_ros.networks.roi_pool import PrRoIPool2D
from rgbt_tracker_ros.tracking.dimp import DiMPTracker
from rgbt_tracker_ros.tracking.params import DiMPParams

torch.set_num_threads(1)


# --------------------------------------------------------------------------- pytracking's DiMP, transcribed
def _iou_conv(in_planes: int, out_planes: int, kernel_size: int = 3, padding: int = 1) -> nn.Sequential:
    """ltr/models/bbreg/atom_iou_net.py ``conv``."""
    return nn.Sequential(nn.Conv2d(in_planes, out_planes, kernel_size, padding=padding, bias=True),
                         nn.BatchNorm2d(out_planes), nn.ReLU(inplace=True))


class _LinearBlock(nn.Module):
    """ltr/models/layers/blocks.py ``LinearBlock``."""

    def __init__(self, in_planes: int, out_planes: int, input_sz: int):
        super().__init__()
        self.linear = nn.Linear(in_planes * input_sz * input_sz, out_planes, bias=True)
        self.bn = nn.BatchNorm2d(out_planes)
        self.relu = nn.ReLU(inplace=True)


class _AtomIoUNet(nn.Module):
    """ltr/models/bbreg/atom_iou_net.py ``AtomIoUNet`` (its PrRoIPool2D layers hold no weights)."""

    def __init__(self, input_dim=(128, 256), pred_input_dim=(256, 256), pred_inter_dim=(256, 256)):
        super().__init__()
        self.conv3_1r = _iou_conv(input_dim[0], 128)
        self.conv3_1t = _iou_conv(input_dim[0], 256)
        self.conv3_2t = _iou_conv(256, pred_input_dim[0])
        self.fc3_1r = _iou_conv(128, 256, padding=0)
        self.conv4_1r = _iou_conv(input_dim[1], 256)
        self.conv4_1t = _iou_conv(input_dim[1], 256)
        self.conv4_2t = _iou_conv(256, pred_input_dim[1])
        self.fc34_3r = _iou_conv(256 + 256, pred_input_dim[0], kernel_size=1, padding=0)
        self.fc34_4r = _iou_conv(256 + 256, pred_input_dim[1], kernel_size=1, padding=0)
        self.fc3_rt = _LinearBlock(pred_input_dim[0], pred_inter_dim[0], 5)
        self.fc4_rt = _LinearBlock(pred_input_dim[1], pred_inter_dim[1], 3)
        self.iou_predictor = nn.Linear(pred_inter_dim[0] + pred_inter_dim[1], 1, bias=True)


class _DiMPSteepestDescentGN(nn.Module):
    """ltr/models/target_classifier/optimizer.py ``DiMPSteepestDescentGN`` with dimp18.py's arguments."""

    def __init__(self, num_dist_bins: int = 100, bin_displacement: float = 0.1, init_gauss_sigma: float = 0.9):
        super().__init__()
        self.log_step_length = nn.Parameter(math.log(0.9) * torch.ones(1))
        self.filter_reg = nn.Parameter(0.1 * torch.ones(1))
        d = torch.arange(num_dist_bins, dtype=torch.float32).reshape(1, -1, 1, 1) * bin_displacement
        gauss = torch.exp(-0.5 * (d / init_gauss_sigma) ** 2)
        self.label_map_predictor = nn.Conv2d(num_dist_bins, 1, kernel_size=1, bias=False)
        self.label_map_predictor.weight.data = gauss - gauss.min()
        self.target_mask_predictor = nn.Sequential(nn.Conv2d(num_dist_bins, 1, kernel_size=1, bias=False), nn.Sigmoid())
        self.target_mask_predictor[0].weight.data = 3.0 * torch.tanh(2.0 - d)
        self.spatial_weight_predictor = nn.Conv2d(num_dist_bins, 1, kernel_size=1, bias=False)
        self.spatial_weight_predictor.weight.data.fill_(1.0)


class _FilterInitializerLinear(nn.Module):
    """ltr/models/target_classifier/initializer.py (its FilterPool holds no weights)."""

    def __init__(self, feature_dim: int):
        super().__init__()
        self.filter_conv = nn.Conv2d(feature_dim, feature_dim, kernel_size=3, padding=1)


class _LinearFilter(nn.Module):
    """ltr/models/target_classifier/linear_filter.py ``LinearFilter``."""

    def __init__(self, feature_extractor: nn.Module, feature_dim: int):
        super().__init__()
        self.filter_initializer = _FilterInitializerLinear(feature_dim)
        self.filter_optimizer = _DiMPSteepestDescentGN()
        self.feature_extractor = feature_extractor


class _DiMPnet(nn.Module):
    """ltr/models/tracking/dimpnet.py ``dimpnet18`` / ``dimpnet50`` (backbone: a full torchvision-named ResNet)."""

    def __init__(self, depth: int):
        super().__init__()
        if depth == 18:
            self.feature_extractor = torchvision.models.resnet18(weights=None)
            # residual_basic_block(num_blocks=1, final_conv=True, out_dim=256) + InstanceL2Norm
            clf = nn.Sequential(torchvision.models.resnet.BasicBlock(256, 256),
                                nn.Conv2d(256, 256, kernel_size=3, padding=1, bias=False), nn.Identity())
            self.classifier = _LinearFilter(clf, 256)
            self.bb_regressor = _AtomIoUNet()
        else:
            self.feature_extractor = torchvision.models.resnet50(weights=None)
            # residual_bottleneck(num_blocks=0, final_conv=True, out_dim=512) + InstanceL2Norm
            clf = nn.Sequential(nn.Conv2d(1024, 512, kernel_size=3, padding=1, bias=False), nn.Identity())
            self.classifier = _LinearFilter(clf, 512)
            self.bb_regressor = _AtomIoUNet(input_dim=(4 * 128, 4 * 256))


#: dimp18.py / dimp50.py's dimpnet arguments (as the NetConstructor stores them).
DIMP_KWDS = {"filter_size": 4, "backbone_pretrained": True, "optim_iter": 5, "clf_feat_norm": True, "final_conv": True,
             "optim_init_step": 0.9, "optim_init_reg": 0.1, "init_gauss_sigma": 0.9, "num_dist_bins": 100,
             "bin_displacement": 0.1, "mask_init_factor": 3.0, "target_mask_act": "sigmoid", "score_act": "relu"}


@contextlib.contextmanager
def _fake_ltr() -> Iterator[dict[str, type]]:
    """Importable stand-ins for pytracking's classes while a checkpoint is pickled; gone afterwards, so a
    loader that imported or ran them would fail."""
    modules = {name: types.ModuleType(name) for name in
               ("ltr", "ltr.admin", "ltr.admin.model_constructor", "ltr.admin.settings", "ltr.admin.stats")}
    classes = {}
    for module, name in (("ltr.admin.model_constructor", "NetConstructor"), ("ltr.admin.settings", "Settings"),
                         ("ltr.admin.stats", "AverageMeter")):
        cls = type(name, (), {"__module__": module, "__qualname__": name})
        setattr(modules[module], name, cls)
        classes[name] = cls
    sys.modules.update(modules)
    try:
        yield classes
    finally:
        for name in modules:
            sys.modules.pop(name, None)


def _save_pytracking(path: Path, net: dict, fun_name: str, kwds: dict, zip_format: bool = True,
                     actor_type: str = "DiMPActor") -> Path:
    """A checkpoint as ltr/trainers/base_trainer.py writes it."""
    with _fake_ltr() as ltr:
        constructor = ltr["NetConstructor"]()
        constructor.__dict__.update(fun_name=fun_name, fun_module="ltr.models.tracking.dimpnet", args=(), kwds=kwds)
        settings = ltr["Settings"]()
        settings.__dict__.update(batch_size=26, normalize_mean=[0.485, 0.456, 0.406], device=torch.device("cpu"))
        meter = ltr["AverageMeter"]()
        meter.__dict__.update(val=0.1, avg=0.2, sum=2.0, count=10)
        payload = {"epoch": 50, "actor_type": actor_type, "net_type": "DiMPnet", "net": net, "net_info": None,
                   "constructor": constructor, "stats": OrderedDict(train=OrderedDict({"Loss/total": meter})),
                   "settings": settings}
        torch.save(payload, path, _use_new_zipfile_serialization=zip_format)
    return path


@pytest.fixture(scope="module")
def dimp18_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return _DiMPnet(18).state_dict()


@pytest.fixture(scope="module")
def dimp18_file(dimp18_state, tmp_path_factory) -> Path:
    # The legacy (pre-zip) format of pytracking's released dimp18.pth / dimp50.pth.
    return _save_pytracking(tmp_path_factory.mktemp("pytracking") / "dimp18.pth", dimp18_state, "dimpnet18",
                            DIMP_KWDS, zip_format=False)


@pytest.fixture(scope="module")
def dimp18_import(dimp18_file, tmp_path_factory) -> tuple[Path, dict, str]:
    """``import-weights`` of the DiMP18 file: (output checkpoint, JSON report, printed report)."""
    out_dir = tmp_path_factory.mktemp("imported")
    out, report = out_dir / "student.pt", out_dir / "report.json"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["import-weights", "--from", "pytracking", str(dimp18_file), "--model-config", "student-dimp18",
                     "--out", str(out), "--report-json", str(report)])
    assert code == 0
    return out, json.loads(report.read_text()), printed.getvalue()


def test_reading_runs_nothing_and_leaves_placeholders(dimp18_file):
    with pytest.raises(ModuleNotFoundError, match="ltr"):  # what an unsafe loader would have to import
        torch.load(dimp18_file, weights_only=False)
    payload, placeholders = read_pytracking_checkpoint(dimp18_file)
    assert placeholders == ["ltr.admin.model_constructor.NetConstructor", "ltr.admin.settings.Settings",
                            "ltr.admin.stats.AverageMeter"]
    assert not any(name == "ltr" or name.startswith("ltr.") for name in sys.modules)  # nothing was imported
    constructor = payload["constructor"]
    assert isinstance(constructor, PytrackingPlaceholder)
    assert constructor.state["fun_name"] == "dimpnet18" and constructor.state["kwds"] == DIMP_KWDS
    assert payload["settings"].state["device"] == torch.device("cpu") and payload["epoch"] == 50


def test_dimp18_to_student_reports_every_key(dimp18_state, dimp18_import):
    out, report, printed = dimp18_import
    print(printed)
    assert report["network"] == "DiMP18" and report["checkpoint"]["constructor"] == "dimpnet18"
    mapped = {e["source"]: e["targets"] for e in report["mapped"]}
    dropped = {e["source"]: e["reason"] for e in report["dropped"]}
    assert set(mapped) | set(dropped) == set(dimp18_state) and not set(mapped) & set(dropped)
    assert all(k.startswith(("feature_extractor.layer4.", "feature_extractor.fc.")) for k in dropped)
    assert len(dropped) == sum(k.startswith(("feature_extractor.layer4.", "feature_extractor.fc."))
                               for k in dimp18_state)
    ours = build_model("student-dimp18", pretrained="none").state_dict()
    initialised = {e["target"] for e in report["initialised"]}
    targets = {t for ts in mapped.values() for t in ts}
    assert targets | initialised == set(ours) and not targets & initialised
    assert initialised == {k for k in ours if k.startswith("fusion.")}  # only MPSD starts fresh
    assert report["counts"] == {"mapped": len(mapped), "dropped": len(dropped), "initialised": len(initialised)}
    assert "ltr.admin.model_constructor.NetConstructor" in printed and "feature_extractor.layer4.*" in printed
    assert f"wrote {out}" in printed


def test_imported_student_loads_with_exact_pooling_and_its_weights(dimp18_state, dimp18_import):
    out, report, _ = dimp18_import
    model, meta = load_checkpoint(out)  # the normal loader, weights_only
    assert meta["config"].name == "student-dimp18" and meta["config"].roi_pool == "prroi"
    assert {m.mode for m in model.modules() if isinstance(m, PrRoIPool2D)} == {"prroi"}
    assert meta["extra"]["imported_from"]["network"] == "DiMP18"
    state = model.state_dict()
    for entry in report["mapped"]:
        for target in entry["targets"]:
            assert torch.equal(state[target], dimp18_state[entry["source"]]), target


def test_imported_student_tracks_a_synthetic_sequence(dimp18_import):
    model, _ = load_checkpoint(dimp18_import[0])
    spec = make_specs(1, seed=3, frames=4, attributes=[[]], size=(128, 96))[0]
    frames = list(generate_sequence(spec))
    # Random weights: no accuracy to expect; few augmentations keep the 288 px student quick on the CPU.
    params = DiMPParams(augmentation={"fliplr": True}, target_not_found_threshold=-1e9)
    tracker = DiMPTracker(model, params, device="cpu")
    tracker.initialize(frames[0], frames[0].gt_rgb)
    for pair in frames[1:]:
        result = tracker.track(pair)
        assert result.box.shape == (4,) and np.isfinite(result.box).all() and (result.box[2:] > 0).all()
        assert np.isfinite(result.score)


def test_dimp50_to_teacher_fills_both_streams(tmp_path):
    torch.manual_seed(1)
    state = _DiMPnet(50).state_dict()
    path = _save_pytracking(tmp_path / "dimp50.pth", state, "dimpnet50",
                            dict(DIMP_KWDS, clf_feat_blocks=0, out_feature_dim=512))
    model, report = import_pytracking(path, "teacher-dimp50")
    counts = report.counts()
    print(report.format())
    assert report.network == "DiMP50"
    assert {e["source"] for e in report.mapped} | {e["source"] for e in report.dropped} == set(state)
    ours = model.state_dict()
    assert {e["target"] for e in report.initialised} == {k for k in ours if k.startswith("fusion.")}
    for entry in report.mapped:
        if entry["source"].startswith("feature_extractor."):
            rest = entry["source"][len("feature_extractor."):]
            assert entry["targets"] == [f"rgb_backbone.{rest}", f"tir_backbone.{rest}"]
        for target in entry["targets"]:
            assert torch.equal(ours[target], state[entry["source"]])
    assert counts["mapped"] + counts["dropped"] == len(state)
    assert any("mfDiMP" in note for note in report.notes)


# --------------------------------------------------------------------------- refusals
def _small_net(layer3_in: int = 128) -> dict[str, torch.Tensor]:
    """Enough of a ResNet18 DiMP for the checks that come before the shapes."""
    return {"feature_extractor.layer3.0.conv1.weight": torch.zeros(256, layer3_in, 3, 3),
            "feature_extractor.layer3.1.conv1.weight": torch.zeros(256, 256, 3, 3)}


def test_a_dimp18_for_the_teacher_fails_in_one_line(dimp18_file, tmp_path, capsys):
    assert main(["import-weights", "--from", "pytracking", str(dimp18_file), "--model-config", "teacher-dimp50",
                 "--out", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "holds a DiMP18 with a resnet18 backbone, config 'teacher-dimp50' has resnet50" in err
    assert not (tmp_path / "x.pt").exists()


def test_a_config_with_legacy_pooling_is_refused(dimp18_file):
    with pytest.raises(InputError, match="roi_pool 'legacy'.*student-dimp18"):
        import_pytracking(dimp18_file, "student-r18")


@pytest.mark.parametrize("fun_name, kwds, message", [
    ("klcedimpnet18", DIMP_KWDS, r"klcedimpnet18\(\); only dimpnet18/dimpnet50"),
    ("dimpnet18", {k: v for k, v in DIMP_KWDS.items() if k != "bin_displacement"},
     r"built with bin_displacement=1.0, config 'student-dimp18' has 0.1"),
    ("dimpnet18", dict(DIMP_KWDS, score_act="bentpar"), "score_act='bentpar'"),
])
def test_constructors_we_cannot_reproduce_are_refused(tmp_path, fun_name, kwds, message):
    path = _save_pytracking(tmp_path / "net.pth", _small_net(), fun_name, kwds)
    with pytest.raises(CheckpointError, match=message):
        import_pytracking(path, "student-dimp18")


def test_shapes_that_do_not_fit_are_named(tmp_path):
    path = _save_pytracking(tmp_path / "net.pth", _small_net(layer3_in=64), "dimpnet18", DIMP_KWDS)
    with pytest.raises(CheckpointError, match=r"does not fit config 'student-dimp18': feature_extractor.layer3.0."
                                              r"conv1.weight \(256, 64, 3, 3\) vs backbone.layer3.0.conv1.weight"):
        import_pytracking(path, "student-dimp18")


def test_corrupt_foreign_and_missing_files(dimp18_file, tmp_path):
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(dimp18_file.read_bytes()[: os.path.getsize(dimp18_file) // 3])
    with pytest.raises(CheckpointError, match="truncated.pth: not a readable PyTorch checkpoint"):
        read_pytracking_checkpoint(truncated)
    ours = save_checkpoint(tmp_path / "ours.pt", build_model("student-tiny", pretrained="none"))
    with pytest.raises(CheckpointError, match="not a pytracking training checkpoint.*'state_dict'"):
        read_pytracking_checkpoint(ours)
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint\n")
    with pytest.raises(CheckpointError, match="notes.txt: not a readable PyTorch checkpoint"):
        read_pytracking_checkpoint(text)
    with pytest.raises(CheckpointError, match="pytracking checkpoint not found"):
        read_pytracking_checkpoint(tmp_path / "absent.pth")


class _Malicious:
    """Unpickling this would run a shell command."""

    def __init__(self, command: str, runner=os.system):
        self.command, self.runner = command, runner

    def __reduce__(self):
        return self.runner, (self.command,)


@pytest.mark.parametrize("zip_format", [True, False])
@pytest.mark.parametrize("runner, name", [(os.system, "posix.system" if os.name == "posix" else "nt.system"),
                                          (eval, "eval")])
def test_a_malicious_pickle_is_refused_and_never_runs(tmp_path, capsys, zip_format, runner, name):
    marker = tmp_path / "executed"
    command = f"open({str(marker)!r}, 'w')" if runner is eval else f"touch {marker}"
    path = tmp_path / "evil.pth"
    torch.save({"net": {}, "constructor": _Malicious(command, runner)}, path, _use_new_zipfile_serialization=zip_format)
    assert main(["import-weights", "--from", "pytracking", str(path), "--model-config", "student-dimp18",
                 "--out", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert f"refused: the pickle calls or builds `{name}`" in err and "nothing in it was run" in err
    assert not marker.exists()


def test_a_call_into_pytracking_names_stays_inert(tmp_path):
    marker = tmp_path / "executed"
    path = tmp_path / "net.pth"
    with _fake_ltr() as ltr:
        # A pickle that "calls" a pytracking name with a shell command gets a placeholder holding the argument.
        torch.save({"net": {}, "constructor": _Malicious(f"touch {marker}", ltr["Settings"])}, path)
    payload, placeholders = read_pytracking_checkpoint(path)
    assert placeholders == ["ltr.admin.settings.Settings"]
    assert payload["constructor"].args == (f"touch {marker}",) and not marker.exists()

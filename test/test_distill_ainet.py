"""CMD distillation from an AINet teacher (distill/teachers.py): the score map's geometry on the student's grid,
the teacher's own views of the student's frames, its errors, and the closed loop through the command line (label
with the AINet -> distill from the bundle). One step, gradient routing and resume are tested for both teacher
families in test_distill_training.py.

student-tiny at a 64 px crop, ainet-tiny (64 / 128 px crops, 8 x 8 score map) from random weights.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import yaml

from rgbt_tracker_ros.cli.main import main
from rgbt_tracker_ros.data.bundle import read_manifest
from rgbt_tracker_ros.data.crops import search_area_transform
from rgbt_tracker_ros.data.datasets import open_dataset
from rgbt_tracker_ros.data.ostrack_sampler import OSTrackViewSampler, center_heatmap
from rgbt_tracker_ros.data.sampler import DiMPSampler, collate_samples, crop_pair, gaussian_label
from rgbt_tracker_ros.distill.objective import cmd_objective
from rgbt_tracker_ros.distill.teachers import ainet_levels, load_teacher, response_on_student_grid
from rgbt_tracker_ros.errors import CheckpointError, InputError
from rgbt_tracker_ros.networks.checkpoint import load_checkpoint, save_checkpoint
from rgbt_tracker_ros.networks.config import build_model, load_config
from rgbt_tracker_ros.training.run_log import read_log
from rgbt_tracker_ros.training.settings import load_settings

STUDENT = load_config("student-tiny", input_size=64, pretrained="none")
AINET = load_config("ainet-tiny")

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("student_size, teacher_size, grid, centre, cell", [
    (64, 128, 8, (16.0, 48.0), (1, 3)),  # student-tiny at 64 px, ainet-tiny: student cells every 8 teacher px
    (288, 256, 16, (144.0, 0.0), (9, 0)),  # student-r18, ainet-vitb: 19 student cells over 16 teacher cells
])
def test_a_teacher_peak_lands_on_the_student_cell_of_the_same_image_point(student_size, teacher_size, grid, centre,
                                                                           cell):
    # A target centred at `centre` (student crop px): AINet's label peaks where the teacher would, the student's
    # DiMP label where the student should; the resampled teacher response must peak on the student's label peak.
    scale = teacher_size / student_size
    size = 0.2 * student_size
    student_box = np.array([centre[0] - size / 2, centre[1] - size / 2, size, size])
    teacher_score = torch.from_numpy(center_heatmap(student_box * scale / teacher_size, grid))[None, None]
    label = gaussian_label(student_box[None], 0.25 / 5, 4, student_size // 16, student_size)[0]
    mapped = response_on_student_grid(teacher_score, teacher_size, student_size, 16, 4)[0]
    assert mapped.shape == label.shape
    assert np.unravel_index(int(mapped.argmax()), mapped.shape) == np.unravel_index(label.argmax(), label.shape)
    assert np.unravel_index(int(mapped.argmax()), mapped.shape) == (cell[1], cell[0])  # (row, column)
    assert float(mapped.max()) == pytest.approx(1.0)


@pytest.mark.parametrize("filter_size", [4, 3])
def test_the_resampling_is_exact_in_image_coordinates(filter_size):
    # A score linear in the image point is read back exactly at every student cell within the teacher's cells.
    student_size, teacher_size, grid, stride = 288, 256, 16, 16
    teacher_points = torch.arange(grid, dtype=torch.float32) * teacher_size / grid / (teacher_size / student_size)
    score = (0.1 + 0.002 * teacher_points[None, :] - 0.001 * teacher_points[:, None])[None, None]  # x right, y down
    mapped = response_on_student_grid(score, teacher_size, student_size, stride, filter_size)[0]
    offset = 0.0 if filter_size % 2 == 0 else 0.5
    points = (torch.arange(mapped.shape[-1], dtype=torch.float32) + offset) * stride
    expected = 0.1 + 0.002 * points[None, :] - 0.001 * points[:, None]
    inside = points <= teacher_points[-1]
    assert mapped.shape[-1] == student_size // stride + (filter_size % 2 == 0)
    torch.testing.assert_close(mapped[inside][:, inside], expected[inside][:, inside])
    # past the last teacher cell (at most a cell): the score at the nearest point of the teacher's grid (border)
    border = 0.1 + 0.002 * teacher_points[-1] - 0.001 * points[inside]
    assert bool((points[~inside] - teacher_points[-1] <= student_size / grid).all())  # within one teacher cell
    torch.testing.assert_close(mapped[inside][:, ~inside], border[:, None].expand(-1, int((~inside).sum())))


def test_ainet_levels_and_their_errors():
    assert ainet_levels(12) == ("layer3", "layer6", "layer9", "layer12")
    assert ainet_levels(4) == ("layer1", "layer2", "layer3", "layer4")
    with pytest.raises(InputError, match="at least 4 layers"):
        ainet_levels(3)
    with pytest.raises(ValueError, match="square score map"):
        response_on_student_grid(torch.zeros(1, 1, 1, 1), 16, 64, 16, 4)


def test_the_teacher_views_are_the_student_crops_regions_from_the_same_frames(synthetic_root):
    sequences = open_dataset(synthetic_root)
    settings = replace(load_settings("cmd-synthetic-cpu").sampler, num_train_frames=2, num_test_frames=1,
                       output_size=64, grayscale_probability=0.5)
    student = DiMPSampler(sequences, settings, 4, seed=5)
    same_size = OSTrackViewSampler(sequences, settings, 4, seed=5, search_size=64, template_size=32)
    larger = OSTrackViewSampler(sequences, settings, 4, seed=5, search_size=128, template_size=64)
    for sampler in (student, same_size, larger):
        sampler.set_epoch(2)
    for index in range(4):
        plain, views, big = student[index], same_size[index], larger[index]
        assert all(torch.equal(plain[k], views[k]) and torch.equal(plain[k], big[k]) for k in plain)  # same draws
        # At the student's size the teacher's search crops are the student's crops (train frames, then test frames).
        assert torch.equal(views["teacher_search_rgb"], torch.cat((plain["train_rgb"], plain["test_rgb"])))
        assert torch.equal(views["teacher_search_tir"], torch.cat((plain["train_tir"], plain["test_tir"])))
        assert big["teacher_search_rgb"].shape == (3, 3, 128, 128) and big["teacher_template_tir"].shape == (1, 1, 64, 64)
        # ... and at twice the size the same region: averaging 2 x 2 pixels comes back close to the student's crop.
        pooled = torch.nn.functional.avg_pool2d(big["teacher_search_tir"], 2)
        assert (pooled - torch.cat((plain["train_tir"], plain["test_tir"]))).abs().mean() < 0.02
    # The template: OSTrack's, factor 2 around the base (first train) frame's box, no jitter, the same augmentation.
    sample, drawn = same_size.draw(1)
    train = drawn.frames["train"]
    rgb, tir = crop_pair(train.pairs[0], search_area_transform(drawn.boxes[train.ids[0]], 2.0, 32), "replicate",
                         drawn.grayscale, train.brightness)
    views = same_size[1]
    assert np.array_equal(views["teacher_template_rgb"][0].numpy(), rgb)
    assert np.array_equal(views["teacher_template_tir"][0].numpy(), tir)


def test_ainet_teacher_errors(ainet_path, tmp_path):
    with pytest.raises(InputError, match="distillation trains a student"):
        cmd_objective(ainet_path, AINET)
    shallow = save_checkpoint(tmp_path / "shallow.pt", build_model(AINET.replace(depth=3)))
    with pytest.raises(InputError, match="at least 4 layers"):
        cmd_objective(shallow, STUDENT)
    with pytest.raises(CheckpointError, match="not found"):
        cmd_objective(tmp_path / "missing.pt", STUDENT)


def test_the_response_alone_searches_the_test_frames_only(synthetic_root, ainet_path):
    teacher, _ = load_teacher(ainet_path, STUDENT)
    settings = replace(load_settings("cmd-synthetic-cpu").sampler, num_train_frames=2, num_test_frames=2,
                       output_size=64)
    sampler = teacher.sampler_class(open_dataset(synthetic_root), settings, 2, seed=1)
    batch = collate_samples([sampler[0], sampler[1]])
    searched = []
    hook = teacher.net.register_forward_hook(lambda module, inputs, output: searched.append(inputs[2].shape[0]))
    full, alone = teacher(batch), teacher(batch, features=False)
    hook.remove()
    assert searched == [4 * 2, 2 * 2]  # (train + test frames) x batch, then test frames x batch
    torch.testing.assert_close(alone.response, full.response, rtol=1e-4, atol=1e-5)
    assert full.response.shape == (2, 2, 5, 5) and full.rgb and full.fused  # 64 px / stride 16, even filter: 5
    assert not alone.rgb and not alone.tir and not alone.fused


@pytest.mark.slow
def test_label_with_ainet_then_distill_from_the_bundle_with_the_ainet_teacher(synthetic_root, ainet_path, tmp_path):
    student_config = tmp_path / "student-tiny-64.yaml"
    values = STUDENT.to_dict()
    values.pop("description")
    student_config.write_text(yaml.safe_dump(values))
    sequence = sorted(synthetic_root.iterdir())[0]
    bundle, run = tmp_path / "bundle", tmp_path / "run"
    assert main(["label", "--sequence", str(sequence), "--model", str(ainet_path), "--out", str(bundle),
                 "--device", "cpu", "--no-progress"]) == 0
    assert read_manifest(bundle)["sequences"][sequence.name]["complete"]
    assert main(["distill", "--teacher", str(ainet_path), "--model-config", str(student_config), "--data", str(bundle),
                 "--settings", "cmd-synthetic-cpu", "--epochs", "1", "--samples-per-epoch", "4", "--batch", "2",
                 "--out", str(run), "--device", "cpu", "--no-progress"]) == 0
    (row,) = read_log(run / "log.csv")
    assert row["iterations"] == 2 and row["l_hfrd"] > 0 and row["l_scfd"] > 0
    _, meta = load_checkpoint(run / "checkpoints" / "epoch_001.pt", config=student_config)
    assert str(bundle) in meta["training_data"] and "from teacher 'ainet-tiny'" in meta["training_data"]

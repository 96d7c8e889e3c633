"""Training settings (training/settings.py): bundled recipes, YAML errors, round trip."""
from __future__ import annotations

import pytest

from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.training.settings import DIMP_LOSS_WEIGHTS, TrainSettings, available_settings, load_settings


def test_bundled_recipes_are_dimp():
    assert {"dimp-student", "dimp-teacher", "synthetic-cpu"} <= set(available_settings())
    student = load_settings("dimp-student")
    assert (student.epochs, student.samples_per_epoch, student.batch_size) == (50, 26000, 26)
    assert (student.lr, student.lr_step_epochs, student.lr_gamma) == (2e-4, 15, 0.2)
    assert student.loss_weights == DIMP_LOSS_WEIGHTS == {"iou": 1, "test_clf": 100, "test_init_clf": 100,
                                                         "test_iter_clf": 400}
    s = student.sampler
    assert (s.num_train_frames, s.num_test_frames, s.max_gap, s.search_area_factor) == (3, 3, 30, 5.0)
    assert (s.center_jitter_train, s.center_jitter_test, s.scale_jitter_train, s.scale_jitter_test) == (3, 4.5, 0.25, 0.5)
    assert (s.proposals_per_frame, s.output_sigma_factor) == (8, 0.25)
    teacher = load_settings("dimp-teacher")
    assert teacher.batch_size == 10 and teacher.module_lrs["rgb_backbone"] == 2e-5


def test_round_trip_through_a_dict():
    settings = load_settings("synthetic-cpu")
    assert TrainSettings.from_dict(settings.to_dict()) == settings


def test_yaml_errors_name_the_problem(tmp_path):
    bad_key = tmp_path / "bad.yaml"
    bad_key.write_text("epochs: 3\nlearning_rate: 0.1\n")
    with pytest.raises(InputError, match="learning_rate"):
        load_settings(bad_key)
    model_field = tmp_path / "model.yaml"
    model_field.write_text("sampler: {output_size: 288}\n")
    with pytest.raises(InputError, match="model config"):
        load_settings(model_field)
    broken = tmp_path / "broken.yaml"
    broken.write_text("epochs: [1\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_settings(broken)
    with pytest.raises(InputError, match="available"):
        load_settings("no-such-recipe")
    with pytest.raises(InputError, match="unknown loss term"):
        TrainSettings(loss_weights={"hfrd": 1.0})
    with pytest.raises(InputError, match="smaller than one batch"):
        TrainSettings(samples_per_epoch=4, batch_size=8)

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


def test_extends_replaces_keys_and_merges_the_sampler(tmp_path):
    (tmp_path / "base.yaml").write_text(
        "extends: synthetic-cpu\ndescription: base\nepochs: 3\nmodule_lrs: {bb_regressor: 1.0e-3}\n"
        "sampler: {max_gap: 10, proposals_per_frame: 4}\n"
    )
    child = tmp_path / "child.yaml"
    child.write_text("extends: base.yaml\nseed: 5\nmodule_lrs: {}\nsampler: {max_gap: 20}\n")
    settings = load_settings(child)
    cpu = load_settings("synthetic-cpu")
    assert settings.name == "child" and settings.description == "base"
    assert (settings.epochs, settings.seed, settings.batch_size) == (3, 5, cpu.batch_size)
    assert settings.module_lrs == {}  # a key is replaced as a whole, never merged ...
    assert (settings.sampler.max_gap, settings.sampler.proposals_per_frame) == (20, 4)  # ... except sampler
    assert settings.sampler.center_jitter_test == cpu.sampler.center_jitter_test


def test_bundled_stages_differ_from_their_base_only_where_they_say():
    long, finetune = load_settings("synthetic-long"), load_settings("synthetic-finetune")
    assert long.sampler.hidden_attributes == () and finetune.sampler.hidden_attributes == ("full_occlusion",)
    assert finetune.replace(name=long.name, description=long.description, epochs=long.epochs, lr=long.lr,
                            module_lrs=long.module_lrs, lr_step_epochs=long.lr_step_epochs, seed=long.seed,
                            sampler=long.sampler) == long
    drone_mix = load_settings("synthetic-drone-mix")  # the fourth stage: fewer epochs, its own seed
    assert (drone_mix.epochs, drone_mix.lr_step_epochs, drone_mix.seed) == (8, 8, 3)
    assert drone_mix.replace(name=finetune.name, description=finetune.description, epochs=finetune.epochs,
                             lr_step_epochs=finetune.lr_step_epochs, seed=finetune.seed) == finetune


def test_extends_loops_and_bad_bases_are_input_errors(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(InputError, match=r"comes back to a file it started from \(a -> b -> a\)"):
        load_settings(tmp_path / "a.yaml")
    (tmp_path / "orphan.yaml").write_text("extends: no-such-recipe\n")
    with pytest.raises(InputError, match="unknown training settings 'no-such-recipe'"):
        load_settings(tmp_path / "orphan.yaml")
    (tmp_path / "flat.yaml").write_text("extends: synthetic-cpu\nsampler: 3\n")
    with pytest.raises(InputError, match="sampler must be a mapping"):
        load_settings(tmp_path / "flat.yaml")

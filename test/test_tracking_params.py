"""Tracker parameters: the bundled YAML, loading by name or path, and clear errors."""
from __future__ import annotations

import dataclasses

import pytest
import yaml

from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.tracking.params import PARAMS_DIR, DiMPParams, load_params, params_from_dict


def test_bundled_dimp_yaml_holds_pytracking_dimp18_values_and_rescaling():
    params = load_params("dimp")
    assert params == load_params(None) == load_params(PARAMS_DIR / "dimp.yaml")
    # Every field is spelled out in the file, and equals the dataclass default.
    content = yaml.safe_load((PARAMS_DIR / "dimp.yaml").read_text())
    assert set(content) == {f.name for f in dataclasses.fields(DiMPParams)}
    assert params == DiMPParams()
    assert (params.search_area_scale, params.sample_memory_size, params.learning_rate) == (5.0, 50, 0.01)
    assert (params.net_opt_iter, params.net_opt_update_iter, params.net_opt_hn_iter, params.train_skipping) == (10, 2, 1, 20)
    assert (params.target_not_found_threshold, params.distractor_threshold, params.hard_negative_threshold) == (0.25, 0.8, 0.5)
    assert (params.num_init_random_boxes, params.box_refinement_iter, params.iounet_k) == (9, 5, 3)
    assert params.num_init_samples == 15
    assert params.thermal_mode == ("auto", None, None)
    assert params.search_area_rescaling_at_occlusion and not params.window_output  # the two non-dimp18 options


def test_yaml_path_with_some_keys_overrides_defaults(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("search_area_scale: 4.0\nthermal_range: [7000, 9000]\nfp16: true\n")
    params = load_params(path)
    assert params.search_area_scale == 4.0 and params.fp16 is True
    assert params.thermal_mode == ("fixed", 7000.0, 9000.0)
    assert params.sample_memory_size == 50  # untouched default


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("serch_area_scale: 4\n", "unknown tracker parameter(s) serch_area_scale"),
        ("learning_rate: 1.5\n", "learning_rate must be in (0, 1)"),
        ("size_update_rate: 0\n", "size_update_rate must be in (0, 1]"),
        ("thermal_range: [9000, 7000]\n", "thermal_range must be"),
        ("thermal_range: percentile\n", "thermal_range must be"),
        ("augmentation: {zoom: [1.2]}\n", "unknown augmentation kind"),
        ("sample_memory_size: 10\n", "must exceed the 15 first-frame samples"),
        ("- just\n- a list\n", "must hold a mapping"),
        ("a: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_parameter_files_name_the_file_and_the_problem(tmp_path, text, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_params(path)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_name_and_missing_file_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="unknown tracker parameters 'dimp99'"):
        load_params("dimp99")
    with pytest.raises(InputError, match="tracker parameters file not found"):
        load_params(tmp_path / "absent.yaml")


def test_params_from_dict_rejects_wrong_types():
    with pytest.raises(InputError, match="invalid tracker parameter value|must be"):
        params_from_dict({"search_area_scale": "five"})

"""Distillation settings (training/settings.py ``distill`` block): Eq. 14's switches, the ablation rows as files."""
from __future__ import annotations

import pytest

from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.training.settings import DistillSettings, TrainSettings, load_settings

ROWS = {  # CMD Table 1: Student(-Origin), + SCFD, + SCFD + MPSD, full CMD
    "cmd-student-origin": (),
    "cmd-student-scfd": ("scfd",),
    "cmd-student-scfd-mpsd": ("scfd", "mpsd"),
    "cmd-student": ("scfd", "mpsd", "hfrd"),
}


def test_ablation_rows_differ_only_in_their_terms():
    full = load_settings("cmd-student")
    assert (full.distill.alpha, full.distill.beta) == (0.001, 100.0)  # the paper's weights
    # The full recipe is DiMP18's plus the distillation block.
    dimp = load_settings("dimp-student")
    assert full.replace(name=dimp.name, description=dimp.description, distill=dimp.distill) == dimp
    assert dimp.distill == DistillSettings() and dimp.distill.terms == ()
    for name, terms in ROWS.items():
        row = load_settings(name)
        assert row.distill.terms == terms
        assert row.replace(name=full.name, description=full.description,
                           distill=DistillSettings(terms=full.distill.terms)) == full
    cpu = load_settings("cmd-synthetic-cpu")
    assert cpu.distill.terms == ROWS["cmd-student"]
    assert cpu.replace(distill=DistillSettings(), name="synthetic-cpu",
                       description=load_settings("synthetic-cpu").description) == load_settings("synthetic-cpu")


def test_synthetic_ablation_rows_are_the_demo_recipe_in_bf16_with_their_terms():
    demo = load_settings("synthetic-demo")
    full = load_settings("cmd-synthetic")
    assert (full.distill.alpha, full.distill.beta) == (0.001, 100.0)
    assert full.replace(name=demo.name, description=demo.description, amp_dtype=demo.amp_dtype,
                        distill=demo.distill) == demo
    assert full.amp_dtype == "bfloat16" != demo.amp_dtype
    assert full.distill.abf_channels == 64 and load_settings("cmd-student").distill.abf_channels is None
    for name, terms in ROWS.items():
        row = load_settings(name.replace("cmd-student", "cmd-synthetic"))
        assert row.distill.terms == terms and row.distill.abf_channels == 64  # every row: the same ABF width
        assert row.replace(name=full.name, description=full.description,
                           distill=DistillSettings(terms=full.distill.terms, abf_channels=64)) == full


def test_extends_merges_the_distill_block_and_a_round_trip_keeps_it(tmp_path):
    child = tmp_path / "heavier.yaml"
    child.write_text("extends: cmd-student\ndistill: {alpha: 0.01, abf_channels: 32}\n")
    settings = load_settings(child)
    assert settings.distill == DistillSettings(terms=("scfd", "mpsd", "hfrd"), alpha=0.01, beta=100.0, abf_channels=32)
    assert TrainSettings.from_dict(settings.to_dict()) == settings
    assert settings.to_dict()["distill"]["terms"] == ["scfd", "mpsd", "hfrd"]


@pytest.mark.parametrize("block, message", [
    ("{terms: [scfd, kd]}", "unknown distillation term.*kd; known: scfd, mpsd, hfrd"),
    ("{terms: [hfrd, hfrd]}", "listed twice"),
    ("{terms: scfd}", "must be a list"),
    ("{alpha: -1}", "must be >= 0"),
    ("{abf_channels: 0}", "abf_channels must be a positive integer or null, got 0"),
    ("{abf_channels: 6.5}", "abf_channels must be a positive integer"),
    ("{abf_channels: true}", "abf_channels must be a positive integer"),
    ("{gamma: 1}", "unknown distillation setting.*gamma"),
    ("3", "distill must be a mapping"),
])
def test_bad_distill_blocks_name_the_file_and_the_problem(tmp_path, block, message):
    path = tmp_path / "bad.yaml"
    path.write_text(f"extends: cmd-student\ndistill: {block}\n")
    with pytest.raises(InputError, match=message) as error:
        load_settings(path)
    assert "bad" in str(error.value)

"""``rgbt-tracker label``: a real (tiny, random-weight) teacher over a bag and a sequence folder."""
from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

from rgbt_tracker_ros.cli import label
from rgbt_tracker_ros.data.datasets import open_sequence
from rgbt_tracker_ros.data.frames import FramePair
from rgbt_tracker_ros.data.bundle import load_labels, read_manifest
from rgbt_tracker_ros.errors import DatasetError, InputError

H, W = 64, 80


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    label.register(parser.add_subparsers())
    return parser.parse_args(["label", *argv])


@pytest.fixture(scope="module")
def teacher_checkpoint(tmp_path_factory):
    from rgbt_tracker_ros.networks.checkpoint import save_checkpoint
    from rgbt_tracker_ros.networks.config import build_model, load_config

    torch.set_num_threads(1)
    torch.manual_seed(0)
    with pytest.warns(UserWarning):  # no ImageNet weights offline: random initialisation is fine here
        model = build_model(load_config("teacher-tiny"))
    return save_checkpoint(tmp_path_factory.mktemp("teacher") / "teacher_tiny.pt", model)


def scene(count: int = 5, gt: bool = True) -> list[FramePair]:
    pairs = []
    for i in range(count):
        rgb = np.full((H, W, 3), 40, np.uint8)
        thermal = np.full((H, W), 3000, np.uint16)
        rgb[20:36, 10 + 2 * i:26 + 2 * i] = (220, 180, 60)
        thermal[20:36, 10 + 2 * i:26 + 2 * i] = 5000
        box = np.array([10.0 + 2 * i, 20.0, 16.0, 16.0]) if gt else None
        pairs.append(FramePair(rgb, thermal, index=i, stamp_rgb=50.0 + i / 10, stamp_thermal=50.0 + i / 10,
                               gt_rgb=box, gt_thermal=box))
    return pairs


def test_label_a_bag_initialised_from_its_ground_truth(tmp_path, teacher_checkpoint, capsys):
    from rgbt_tracker_ros.data.writers import write_bag

    bag = write_bag(scene(5), tmp_path / "walk")
    out = tmp_path / "bundle"
    args = parse(["--bag", str(bag), "--model", str(teacher_checkpoint), "--out", str(out), "--device", "cpu",
                  "--no-progress", "--features", "fused.layer3", "--chunk-size", "2"])
    assert label.run(args) == 0
    manifest = read_manifest(out)
    entry = manifest["sequences"]["walk"]
    assert entry["complete"] and entry["frames"] == 5 and entry["init"]["from"] == "ground truth"
    assert entry["source"]["kind"] == "bag" and entry["source"]["rgb_topic"] == "/rgb/image_raw"
    assert manifest["teacher"]["checkpoint"] == str(teacher_checkpoint.resolve())
    labels = load_labels(out, "walk", with_features=True)
    np.testing.assert_array_equal(labels.source_index, np.arange(5))
    np.testing.assert_allclose(labels.boxes[0], [10, 20, 16, 16])  # the init frame keeps the given box
    np.testing.assert_allclose(labels.gt[4], [18, 20, 16, 16])
    assert labels.responses.ndim == 3 and labels.responses.dtype == np.float16
    assert set(labels.path_weights) == {"layer2", "layer3"}
    assert labels.features["fused.layer3"].shape[0] == 5
    assert labels.stamps_ns[1] == 50_100_000_000
    assert len(open_sequence(out / "walk", layout="lasher")) == 5
    assert (out / "walk" / "teacher_detections" / "metadata.yaml").is_file()
    assert "walk: 5 frames labelled" in capsys.readouterr().out


def test_label_a_sequence_folder_with_an_init_box_then_resume_skips_it(tmp_path, teacher_checkpoint, capsys):
    from rgbt_tracker_ros.data.writers import write_lasher

    folder = write_lasher(scene(4), tmp_path / "data" / "seq_a")
    out = tmp_path / "bundle"
    argv = ["--sequence", str(folder), "--model", str(teacher_checkpoint), "--out", str(out), "--device", "cpu",
            "--no-progress", "--init", "12,20,16,16"]
    assert label.run(parse(argv)) == 0
    entry = read_manifest(out)["sequences"]["seq_a"]
    assert entry["init"] == {"box": [12.0, 20.0, 16.0, 16.0], "from": "--init", "source_index": 0}
    np.testing.assert_allclose(load_labels(out, "seq_a").boxes[0], [12, 20, 16, 16])
    with pytest.raises(InputError, match="--resume"):
        label.run(parse(argv))
    assert label.run(parse(argv + ["--resume"])) == 0
    assert "seq_a: already complete (4 frames), skipped" in capsys.readouterr().out


def test_user_errors_name_the_problem(tmp_path, teacher_checkpoint):
    from rgbt_tracker_ros.data.writers import write_lasher

    root = tmp_path / "data"
    write_lasher(scene(3), root / "a")
    write_lasher(scene(3), root / "b")
    base = ["--model", str(teacher_checkpoint), "--out", str(tmp_path / "out"), "--no-progress"]
    with pytest.raises(InputError, match="one box but"):
        label.run(parse(["--sequence", str(root), "--init", "1,1,5,5", *base]))
    with pytest.raises(InputError, match="not 4 numbers"):
        label.run(parse(["--sequence", str(root / "a"), "--init", "1,a,5,5", *base]))
    with pytest.raises(InputError, match="zero or negative"):
        label.run(parse(["--sequence", str(root / "a"), "--init", "1,1,0,5", *base]))
    with pytest.raises(InputError, match="does not exist"):
        label.run(parse(["--sequence", str(root / "a"), "--init-file", str(tmp_path / "none.txt"), *base]))
    with pytest.raises(InputError, match="checkpoint"):
        label.run(parse(["--sequence", str(root / "a"), "--model", str(tmp_path / "missing.pt"),
                         "--out", str(tmp_path / "o2")]))
    with pytest.raises(DatasetError):
        label.run(parse(["--sequence", str(tmp_path / "nowhere"), *base]))
    with pytest.raises(SystemExit):
        parse(["--sequence", str(root / "a"), "--init", "1,1,5,5", "--init-file", "f", *base])


def test_init_file_gives_the_box_of_its_first_line(tmp_path):
    boxes = tmp_path / "init.txt"
    boxes.write_text("5,6,7,8\n1,1,1,1\n")
    args = parse(["--bag", "b", "--model", "m", "--out", "o", "--init-file", str(boxes)])
    np.testing.assert_array_equal(label.initial_box(args), [5, 6, 7, 8])
    assert label.initial_box(parse(["--bag", "b", "--model", "m", "--out", "o"])) is None
    boxes.write_text("5,6,0,8\n")
    with pytest.raises(InputError, match="init.txt"):
        label.initial_box(args)

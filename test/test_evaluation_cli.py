"""``rgbt-tracker evaluate`` end to end: table, JSON, plots, comparisons, sequence selection, errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from rgbt_tracker_ros.cli import main as cli_main
from rgbt_tracker_ros.errors import DatasetError
from rgbt_tracker_ros.evaluation.protocols import get_protocol
from rgbt_tracker_ros.evaluation.sources import detect_protocol, resolve_sequences

GT = ["10,10,10,10"] * 4


def write_lines(path: Path, lines) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


@pytest.fixture
def lasher_root(tmp_path) -> Path:
    """Two LasHeR-style sequences (init.txt); ``seqA`` has the attribute ``fast_motion``."""
    root = tmp_path / "data"
    for name in ("seqA", "seqB"):
        write_lines(root / name / "init.txt", GT)
        write_lines(root / name / "visible.txt", GT)
    write_lines(root / "seqA" / "fast_motion.txt", [0, 1, 0, 0])
    write_lines(root / "seqB" / "fast_motion.txt", [0, 0, 0, 0])
    return root


@pytest.fixture
def results(tmp_path) -> dict[str, Path]:
    """``good`` tracks both sequences exactly; ``bad`` loses the target after frame 1 in seqB."""
    good, bad = tmp_path / "good", tmp_path / "bad"
    for name in ("seqA", "seqB"):
        write_lines(good / f"{name}.txt", GT)
    write_lines(bad / "seqA.txt", GT)
    write_lines(bad / "seqB.txt", GT[:2] + ["200 200 10 10"] * 2)
    return {"good": good, "bad": bad}


@pytest.fixture(autouse=True)
def only_evaluation_commands(monkeypatch):
    """Build the real ``rgbt-tracker`` parser with just this area's subcommands."""
    monkeypatch.setattr(cli_main, "SUBCOMMANDS", ("evaluate", "benchmark"))


def run_cli(*args: str) -> int:
    return cli_main.main(["evaluate", *map(str, args)])


def test_per_family_table_from_family_flags(lasher_root, results, capsys):
    """Synthetic sequences flag their scenario family (``family_<name>.txt``): one row per family and tracker."""
    write_lines(lasher_root / "seqA" / "family_basic.txt", [1] * 4)
    write_lines(lasher_root / "seqB" / "family_drone.txt", [1] * 4)
    assert run_cli("--protocol", "lasher", "--results", f"good={results['good']}", "--results",
                   f"bad={results['bad']}", "--annotations", lasher_root) == 0
    out = capsys.readouterr().out
    table = out[out.index("Per scenario family:"):].splitlines()
    assert table[1].split() == ["Family", "(sequences)", "Tracker", "PR", "NPR", "SR"]
    assert table[2].split() == ["basic", "(1)", "good", "100.0", "100.0", "95.2"]
    assert table[3].split() == ["bad", "100.0", "100.0", "95.2"]
    assert table[4].split() == ["drone", "(1)", "good", "100.0", "100.0", "95.2"]
    assert table[5].split() == ["bad", "50.0", "50.0", "47.6"]


def test_no_family_table_without_family_flags(lasher_root, results, capsys):
    assert run_cli("--protocol", "lasher", "--results", results["good"], "--annotations", lasher_root) == 0
    assert "Per scenario family" not in capsys.readouterr().out


def test_single_tracker_table_json_and_plots(lasher_root, results, tmp_path, capsys):
    out = tmp_path / "report.json"
    plots = tmp_path / "plots"
    code = run_cli("--protocol", "lasher", "--results", results["bad"], "--annotations", lasher_root,
                   "--json", out, "--plots", plots)
    captured = capsys.readouterr()
    assert code == 0
    assert "LasHeR (official MATLAB toolkit" in captured.out
    assert "lacks 245 of the 245 sequences" in captured.err  # not the official set: a clear note
    row = next(line for line in captured.out.splitlines() if line.startswith("bad"))
    assert row.split()[1:] == ["75.0", "75.0", "71.4"]  # PR: (4/4 + 2/4) / 2; SR: 3 perfect of 4 frames avg
    document = json.loads(out.read_text())
    assert document["protocol"] == "lasher" and document["num_sequences"] == 2 and document["num_frames"] == 8
    assert document["PR"] == pytest.approx(75.0) and document["SR"] == pytest.approx(100 * 0.75 * 20 / 21)
    assert document["per_sequence"]["seqB"] == pytest.approx({"frames": 4, "PR": 50.0, "NPR": 50.0,
                                                              "SR": 100 * 0.5 * 20 / 21})
    assert document["per_attribute"] == {"fast_motion": pytest.approx({"num_sequences": 1, "PR": 100.0,
                                                                       "NPR": 100.0, "SR": 100 * 20 / 21})}
    curves = document["curves"]
    assert len(curves["precision"]["thresholds"]) == 51 and len(curves["success"]["rate"]) == 21
    assert curves["normalized_precision"]["thresholds"][20] == pytest.approx(0.2)
    for suffix in ("precision", "normalized_precision", "success"):
        png = plots / f"lasher_{suffix}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_name_equals_dir_comparison(lasher_root, results, tmp_path, capsys):
    out = tmp_path / "compare.json"
    code = run_cli("--protocol", "otb", "--results", f"mine={results['good']}", "--results", f"theirs={results['bad']}",
                   "--annotations", lasher_root, "--sequences", "all", "--json", out, "--plots", tmp_path)
    captured = capsys.readouterr()
    assert code == 0 and "OTB/pytracking convention" in captured.out
    table, paired = captured.out.split("Paired per-sequence differences against mine (2 sequences")
    rows = [line.split() for line in table.splitlines() if line.startswith(("mine", "theirs"))]
    assert rows == [["mine", "100.0", "100.0", "95.2"], ["theirs", "75.0", "75.0", "71.4"]]
    document = json.loads(out.read_text())
    assert set(document["trackers"]) == {"mine", "theirs"} and "PR" not in document  # no single headline
    assert document["trackers"]["mine"]["PR"] == pytest.approx(100.0)
    assert (tmp_path / "otb_success.png").is_file()
    # seqA is the same for both, seqB loses half its frames: the mean difference is the headline difference
    # (OTB averages per-sequence scores), the standard error of (0, d) is |d| / 2.
    per_sequence = {name: document["trackers"]["theirs"]["per_sequence"][name]["SR"]
                    - document["trackers"]["mine"]["per_sequence"][name]["SR"] for name in ("seqA", "seqB")}
    assert per_sequence["seqA"] == 0 and per_sequence["seqB"] < -40
    sr = next(row for row in document["paired_differences"] if row["score"] == "SR")
    assert sr == {"tracker": "theirs", "reference": "mine", "score": "SR", "better": 0, "worse": 1, "sequences": 2,
                  "mean": pytest.approx(document["trackers"]["theirs"]["SR"] - document["trackers"]["mine"]["SR"]),
                  "standard_error": pytest.approx(abs(per_sequence["seqB"]) / 2)}
    sr_row = next(line.split() for line in paired.splitlines() if line.split()[:2] == ["theirs", "SR"])
    assert sr_row == ["theirs", "SR", f"{sr['mean']:+.2f}", f"{sr['standard_error']:.2f}", "0", "1"]


def test_one_tracker_has_no_paired_table(lasher_root, results, capsys):
    assert run_cli("--protocol", "otb", "--results", results["good"], "--annotations", lasher_root,
                   "--sequences", "all") == 0
    assert "Paired" not in capsys.readouterr().out


def test_dual_protocol_with_gtot_corner_ground_truth(tmp_path, capsys):
    root = tmp_path / "gtot"
    write_lines(root / "car" / "groundTruth_v.txt", ["10 10 20 20"] * 2)  # w = x2 - x1 = 10
    write_lines(root / "car" / "groundTruth_i.txt", ["40 10 50 20"] * 2)
    write_lines(tmp_path / "res" / "car.txt", ["10 10 10 10", "40 10 10 10"])
    assert detect_protocol(root) == "gtot"
    assert run_cli("--protocol", "gtot", "--results", tmp_path / "res", "--annotations", root) == 0
    row = capsys.readouterr().out.splitlines()[-1]
    assert row.split()[1:] == ["100.0", "99.0"]


def test_sequence_list_file_and_official_list_rule(lasher_root, tmp_path):
    protocol = get_protocol("lasher")
    listed = write_lines(tmp_path / "list.txt", ["# subset", "seqB", ""])
    selection = resolve_sequences(protocol, lasher_root, str(listed))
    assert selection.names == ["seqB"] and selection.note is None
    fallback = resolve_sequences(protocol, lasher_root)
    assert fallback.names == ["seqA", "seqB"] and not fallback.official and "not the official" in fallback.note
    # A root holding the whole official GTOT list uses it.
    root = tmp_path / "gtot"
    for name in (Path(__file__).parents[1] / "rgbt_tracker_ros/evaluation/lists/gtot.txt").read_text().split():
        write_lines(root / name / "groundTruth_v.txt", ["1 1 5 5"])
        write_lines(root / name / "groundTruth_i.txt", ["1 1 5 5"])
    write_lines(root / "extra" / "groundTruth_v.txt", ["1 1 5 5"])
    write_lines(root / "extra" / "groundTruth_i.txt", ["1 1 5 5"])
    official = resolve_sequences(get_protocol("gtot"), root)
    assert official.official and len(official.names) == 50 and "extra" not in official.names
    assert "extra" in resolve_sequences(get_protocol("gtot"), root, "all").names
    with pytest.raises(DatasetError, match="nosuch"):
        resolve_sequences(protocol, lasher_root, str(write_lines(tmp_path / "bad.txt", ["nosuch"])))


def test_length_mismatch_warned_on_stderr_and_listed_per_sequence(tmp_path, capsys):
    root = tmp_path / "rgbt234"
    for name in ("seqA", "seqB"):
        write_lines(root / name / "visible.txt", GT)
        write_lines(root / name / "infrared.txt", GT)
    far = "200,200,10,10"
    write_lines(tmp_path / "res" / "seqA.txt", GT[:2] + [far])  # 1 row short: frames 1-3 scored, 2 hits
    write_lines(tmp_path / "res" / "seqB.txt", [GT[0], far, GT[0], GT[0], far])  # 1 row long: 3 hits in 1-4
    out = tmp_path / "report.json"
    assert run_cli("--protocol", "rgbt234", "--results", tmp_path / "res", "--annotations", root,
                   "--json", out) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning:")]
    assert warnings == [
        f"warning: {tmp_path / 'res' / 'seqA.txt'}: result has 1 row fewer than the ground truth (4 frames): "
        "frame 4 not scored",
        f"warning: {tmp_path / 'res' / 'seqB.txt'}: result has 1 row more than the ground truth (4 frames): "
        "row 5 ignored",
    ]
    row = next(line for line in captured.out.splitlines() if line.startswith("res"))
    assert row.split()[1:] == ["70.8", "67.5"]  # MPR (2/3 + 3/4) / 2; MSR the same times 20/21
    document = json.loads(out.read_text())
    assert document["num_frames"] == 7
    assert document["per_sequence"]["seqA"] == pytest.approx({
        "frames": 3, "MPR": 200 / 3, "MSR": 200 / 3 * 20 / 21,
        "adjustment": "result has 1 row fewer than the ground truth (4 frames): frame 4 not scored"})
    assert document["per_sequence"]["seqB"]["adjustment"] == (
        "result has 1 row more than the ground truth (4 frames): row 5 ignored")
    write_lines(tmp_path / "res" / "seqA.txt", GT)
    write_lines(tmp_path / "res" / "seqB.txt", GT)
    assert run_cli("--protocol", "rgbt234", "--results", tmp_path / "res", "--annotations", root,
                   "--json", out) == 0
    assert "warning" not in capsys.readouterr().err
    assert "adjustment" not in json.loads(out.read_text())["per_sequence"]["seqA"]


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no result file for 1 of 2 sequences: seqB"),
        ("", "is empty"),
        ("1,2,3,4\n1,2,3\n", "line 2: 3 values but line 1 has 4"),
        ("1,2,x,4\n", "line 1: not a list of numbers"),
        ("10,10,10,10\n" * 3, "seqB.txt: result has 1 row fewer than the ground truth (4 frames); the lasher "
                                "toolkit cannot score a result shorter than the ground truth"),
    ],
)
def test_bad_result_files_give_one_clear_line(lasher_root, results, content, message, capsys):
    target = results["good"] / "seqB.txt"
    if content is None:
        target.unlink()
    else:
        target.write_text(content)
    assert run_cli("--protocol", "lasher", "--results", results["good"], "--annotations", lasher_root) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_unknown_protocol_and_missing_annotations(lasher_root, results, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli("--protocol", "vot", "--results", results["good"], "--annotations", lasher_root)
    assert exit_info.value.code == 2 and "invalid choice: 'vot'" in capsys.readouterr().err
    assert run_cli("--protocol", "lasher", "--results", results["good"], "--annotations", tmp_path / "none") == 2
    assert "does not exist" in capsys.readouterr().err
    assert run_cli("--protocol", "gtot", "--results", results["good"], "--annotations", lasher_root) == 2
    assert "no sequences with gtot ground truth" in capsys.readouterr().err


def test_attribute_layouts(lasher_root):
    from rgbt_tracker_ros.evaluation.sources import LASHER_ATTRIBUTES, load_attributes

    flags = ["0"] * len(LASHER_ATTRIBUTES)
    flags[LASHER_ATTRIBUTES.index("TC")] = "1"
    write_lines(lasher_root / "AttriSeqsTxt" / "seqB.txt", [",".join(flags)])  # LasHeR: one row per sequence
    write_lines(lasher_root / "attr_txt" / "SequencesName.txt", ["seqA", "seqB", "other"])  # RGBT234 toolkit
    write_lines(lasher_root / "attr_txt" / "LI.txt", [1, 1, 0])
    attributes = load_attributes(lasher_root, ["seqA", "seqB"])
    assert attributes == {"LI": ["seqA", "seqB"], "TC": ["seqB"], "fast_motion": ["seqA"]}


def test_plot_lines_stay_distinct_past_ten_trackers():
    from rgbt_tracker_ros.evaluation.plots import line_style

    styles = [line_style(index) for index in range(30)]
    assert len(set(styles)) == 30
    assert styles[0] == ("C0", "-") and styles[10] == ("C0", "--")

"""Node parameters, config files and launch files agree (no ROS needed)."""
from __future__ import annotations

import py_compile
import re
from pathlib import Path

import pytest

from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.node.parameters import (
    TEACHER_NODE_PARAMETERS,
    TRACK_NODE_PARAMETERS,
    check_choice,
    coerce,
    optional_box,
    yaml_defaults,
)

ROOT = Path(__file__).resolve().parents[1]
ROS_DIR = ROOT / "rgbt_tracker_ros" / "ros"


@pytest.mark.parametrize(
    "table, config",
    [(TRACK_NODE_PARAMETERS, "config/track.yaml"), (TEACHER_NODE_PARAMETERS, "config/teacher.yaml")],
)
def test_config_files_hold_exactly_the_declared_defaults(table, config):
    assert yaml_defaults(ROOT / config) == {p.name: p.default for p in table}
    assert len({p.name for p in table}) == len(table)
    assert all(p.description for p in table)


@pytest.mark.parametrize(
    "module, table",
    [("track_node.py", TRACK_NODE_PARAMETERS), ("teacher_node.py", TEACHER_NODE_PARAMETERS), ("common.py", None)],
)
def test_nodes_read_only_declared_parameters(module, table):
    source = (ROS_DIR / module).read_text()
    read = set(re.findall(r'parameter\((?:self|node), [f]?"(\w+)', source))
    assert read, "the scan found no parameter reads"
    shared = {p.name for p in TRACK_NODE_PARAMETERS} & {p.name for p in TEACHER_NODE_PARAMETERS}
    declared = {p.name for p in table} if table else shared | {"rgb_transport", "thermal_transport"}
    assert read - declared == set()


def test_node_and_launch_modules_compile():
    for path in [*ROS_DIR.glob("*.py"), *(ROOT / "launch").glob("*.launch.py")]:
        py_compile.compile(str(path), doraise=True)
    assert sorted(p.name for p in (ROOT / "launch").glob("*.launch.py")) == [
        "replay.launch.py", "teacher.launch.py", "track.launch.py"
    ]


#: The rclpy adapters: the only modules allowed to import ROS.
ROS_ADAPTERS = {"track_node.py", "teacher_node.py", "common.py", "latency_benchmark.py"}


def test_only_the_node_adapters_import_ros():
    modules = sorted((ROOT / "rgbt_tracker_ros").rglob("*.py"))
    importing = [
        str(path.relative_to(ROOT))
        for path in modules
        if re.search(r"^\s*(import|from)\s+(rclpy|message_filters|cv_bridge|diagnostic_updater)\b",
                     path.read_text(), re.M)
    ]
    assert importing == sorted(str((ROS_DIR / name).relative_to(ROOT)) for name in ROS_ADAPTERS)


def test_parameter_helpers():
    assert optional_box([0, 0, 0, 0]) is None
    assert optional_box([1, 2, 3, 4]) == [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(InputError, match="initial_box"):
        optional_box([1, 2])
    assert check_choice("qos_reliability", "reliable", ("best_effort", "reliable")) == "reliable"
    with pytest.raises(InputError, match="qos_reliability"):
        check_choice("qos_reliability", "fast", ("best_effort", "reliable"))


def test_every_track_node_parameter_is_documented():
    docs = (ROOT / "docs" / "ros.md").read_text()
    missing = [p.name for p in TRACK_NODE_PARAMETERS if f"| `{p.name}` |" not in docs]
    assert missing == []


def test_an_integer_is_accepted_for_a_float_and_other_mismatches_are_one_line():
    assert coerce("expected_rate_min", 5) == 5.0 and isinstance(coerce("expected_rate_min", 5), float)
    assert coerce("latency_warn", 0.5) == 0.5
    assert coerce("initial_box", [120, 80, 40, 60]) == [120.0, 80.0, 40.0, 60.0]
    assert coerce("qos_depth", 7) == 7 and coerce("model", "a.pt") == "a.pt" and coerce("fp16", False) is False
    for name, value, fragment in [
        ("latency_warn", "high", "latency_warn must be of type float, got 'high' (string)"),
        ("qos_depth", 2.5, "qos_depth must be of type integer"),
        ("qos_depth", True, "(bool)"),
        ("fp16", 1, "fp16 must be of type bool"),
        ("model", 3, "model must be of type string"),
        ("initial_box", ["a", "b"], "initial_box must be of type float list"),
    ]:
        with pytest.raises(InputError, match=re.escape(fragment)):
            coerce(name, value)


def test_declared_descriptions_name_the_type():
    by_name = {p.name: p for p in TRACK_NODE_PARAMETERS}
    assert by_name["latency_warn"].described.endswith("[float (integers accepted)]")
    assert by_name["qos_depth"].described.endswith("[integer]")
    assert by_name["initial_box"].type_name == "float list"

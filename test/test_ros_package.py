"""package.xml parses and declares what the ROS side imports (no ROS needed).

A ``--`` inside an XML comment once made package.xml unparsable, and colcon then built the package as
plain Python (no ament index entry, so ``ros2 launch`` could not find it); dependencies the nodes,
launch files and launch tests import were missing from it, so rosdep could not install them.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: ROS packages a module may import (top-level Python module = ROS package name).
ROS_PACKAGES = {
    "rclpy", "message_filters", "cv_bridge", "diagnostic_updater", "diagnostic_msgs", "sensor_msgs", "std_msgs",
    "std_srvs", "vision_msgs", "lifecycle_msgs", "rcl_interfaces", "builtin_interfaces", "geometry_msgs",
    "launch", "launch_ros", "launch_testing", "launch_testing_ros", "ament_index_python",
}
#: Python modules with their rosdep keys.
ROSDEP_KEYS = {"numpy": "python3-numpy", "cv2": "python3-opencv", "yaml": "python3-yaml", "torch": "python3-torch",
               "torchvision": "python3-torchvision", "rosbags": "python3-rosbags", "tqdm": "python3-tqdm",
               "matplotlib": "python3-matplotlib"}


def declared(*kinds: str) -> set[str]:
    root = ElementTree.parse(ROOT / "package.xml").getroot()  # raises on malformed XML
    return {element.text.strip() for kind in kinds for element in root.iter(kind)}


def imported(paths: list[Path]) -> set[str]:
    names = set()
    for path in paths:
        names |= set(re.findall(r"^\s*(?:from|import)\s+(\w+)", path.read_text(), re.M))
    return names


def test_package_xml_is_format_3_ament_python():
    root = ElementTree.parse(ROOT / "package.xml").getroot()
    assert root.get("format") == "3" and root.findtext("name") == "rgbt_tracker_ros"
    assert root.find("export").findtext("build_type") == "ament_python"


def test_runtime_imports_are_declared():
    runtime = [*(ROOT / "rgbt_tracker_ros").rglob("*.py"), *(ROOT / "launch").glob("*.py")]
    names = imported(runtime)
    run_deps = declared("depend", "exec_depend")
    assert {n for n in names & ROS_PACKAGES} - run_deps == set()
    assert {ROSDEP_KEYS[n] for n in names & set(ROSDEP_KEYS)} - run_deps == set()
    assert "ros2bag" in run_deps  # replay.launch.py runs `ros2 bag play`


def test_launch_test_imports_are_declared():
    names = imported(list((ROOT / "test" / "launch").glob("*.py")))
    assert {n for n in names & ROS_PACKAGES} - declared("depend", "exec_depend", "test_depend") == set()

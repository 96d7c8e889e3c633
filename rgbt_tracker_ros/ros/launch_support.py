"""What the package's launch files share: the track node's arguments, argument declaration and reading, the
camera remappings and the node action (``launch`` / ``launch_ros`` only, no rclpy).

A launch argument is ``(name, default, description)``; an empty string as a default means "leave the parameter
file's value", so that the launch file and ``config/*.yaml`` never disagree silently.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence, Union

from launch import LaunchContext
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "rgbt_tracker_ros"
LaunchArgument = tuple[str, Union[str, PathJoinSubstitution], str]


def config_file(name: str) -> PathJoinSubstitution:
    """``share/rgbt_tracker_ros/config/NAME`` of the installed package."""
    return PathJoinSubstitution([FindPackageShare(PACKAGE), "config", name])


#: track.launch.py's arguments, which replay.launch.py passes through (it sets use_sim_time itself).
TRACK_ARGUMENTS: tuple[LaunchArgument, ...] = (
    ("model", "", "checkpoint of the tracking model; empty: the config file's model"),
    ("config", config_file("track.yaml"), "parameter file of the node"),
    ("namespace", "", "namespace of the node (its relative input topics follow it)"),
    ("rgb_topic", "/rgb/image_raw", "RGB image topic (.../compressed with rgb_transport: compressed)"),
    ("thermal_topic", "/thermal/image_raw", "thermal image topic"),
    ("use_sim_time", "false", "use /clock (bag replay with --clock)"),
    ("autostart", "true", "configure and activate the lifecycle node at start-up"),
    ("debug", "true", "create ~/debug_image (rendered only while subscribed)"),
    ("device", "", "auto, cpu, cuda or cuda:N; empty: the config file's device"),
    ("backend", "", "inference backend: torch, onnxruntime or tensorrt; empty: the config file's backend"),
    ("export_dir", "", "ONNX export folder for onnxruntime / tensorrt; empty: the config file's (a cache folder)"),
    ("initial_box", "", "x,y,w,h box for the first frame (scripted runs); empty: wait for ~/init"),
    ("log_level", "info", "ROS log level of the node"),
)


def declare(arguments: Iterable[LaunchArgument]) -> list[DeclareLaunchArgument]:
    """One ``DeclareLaunchArgument`` per argument (``ros2 launch ... --show-args`` lists them)."""
    return [DeclareLaunchArgument(name, default_value=default, description=text) for name, default, text in arguments]


def argument_values(context: LaunchContext, arguments: Iterable[LaunchArgument]) -> dict[str, str]:
    """The arguments' values as given on the command line (or their defaults), as text."""
    return {name: LaunchConfiguration(name).perform(context) for name, _, _ in arguments}


def truthy(text: str) -> bool:
    """A launch argument read as a boolean: 1/true/yes/on (any case) is true, anything else false."""
    return text.strip().lower() in ("1", "true", "yes", "on")


def given(values: dict[str, str], names: Sequence[str]) -> dict[str, str]:
    """The named arguments that are not empty: overrides of the parameter file."""
    return {name: values[name] for name in names if values[name]}


def camera_remappings(rgb_topic: str, thermal_topic: str) -> list[tuple[str, str]]:
    """The nodes' relative image inputs (raw and compressed) onto the given topics."""
    remappings = []
    for relative, topic in (("rgb/image_raw", rgb_topic), ("thermal/image_raw", thermal_topic)):
        remappings += [(relative, topic), (f"{relative}/compressed", f"{topic}/compressed")]
    return remappings


def package_node(node_class: type[Node], executable: str, values: dict[str, str], overrides: dict[str, Any],
                 remappings: list[tuple[str, str]]) -> Node:
    """The node ``executable`` of this package, named after it, in ``values["namespace"]``, with the parameter
    file ``values["config"]`` and then ``overrides``, at log level ``values["log_level"]``."""
    return node_class(
        package=PACKAGE,
        executable=executable,
        name=executable,
        namespace=values["namespace"],
        parameters=[values["config"], overrides],
        remappings=remappings,
        arguments=["--ros-args", "--log-level", values["log_level"]],
        output="screen",
        emulate_tty=True,
    )

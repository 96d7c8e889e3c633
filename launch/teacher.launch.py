"""Start the teacher node: label live topics (or a bag being played) into a teacher bundle.

    ros2 launch rgbt_tracker_ros teacher.launch.py model:=/path/teacher.pth out:=/data/bundle

For recorded bags ``rgbt-tracker label --bag`` does the same offline without dropping frames.
Arguments: model, out, config (default config/teacher.yaml), namespace, rgb_topic, thermal_topic,
ground_truth_topic, use_sim_time, init_file, device, log_level.
"""
from launch import LaunchDescription
from launch.actions import OpaqueFunction
from launch_ros.actions import Node

from rgbt_tracker_ros.ros.launch_support import (argument_values, camera_remappings, config_file, declare, given,
                                                 package_node, truthy)

ARGUMENTS = (
    ("model", "", "teacher checkpoint; empty: the config file's model"),
    ("out", "", "bundle folder; empty: the config file's out"),
    ("config", config_file("teacher.yaml"), "parameter file of the node"),
    ("namespace", "", "namespace of the node"),
    ("rgb_topic", "/rgb/image_raw", "RGB image topic"),
    ("thermal_topic", "/thermal/image_raw", "thermal image topic"),
    ("ground_truth_topic", "/ground_truth", "Detection2DArray topic whose first box initialises the teacher"),
    ("use_sim_time", "false", "use /clock (bag replay with --clock)"),
    ("init_file", "", "text file whose first line x,y,w,h initialises the first frame"),
    ("device", "", "auto, cpu, cuda or cuda:N; empty: the config file's device"),
    ("log_level", "info", "ROS log level of the node"),
)


def _node(context, *args, **kwargs):
    value = argument_values(context, ARGUMENTS)
    overrides = {"use_sim_time": truthy(value["use_sim_time"]), **given(value, ("model", "out", "init_file", "device"))}
    remappings = [("ground_truth", value["ground_truth_topic"]),
                  *camera_remappings(value["rgb_topic"], value["thermal_topic"])]
    return [package_node(Node, "teacher_node", value, overrides, remappings)]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(declare(ARGUMENTS) + [OpaqueFunction(function=_node)])

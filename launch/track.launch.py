"""Start the RGB-T tracking node (lifecycle) with its parameter file, topic remaps and sim time.

    ros2 launch rgbt_tracker_ros track.launch.py model:=/path/student.pth \
        rgb_topic:=/camera/color/image_raw thermal_topic:=/thermal/image_raw

Arguments: model, config (parameter file, default config/track.yaml), namespace, rgb_topic,
thermal_topic, use_sim_time, autostart, debug (create ~/debug_image), device, backend, export_dir, initial_box
("x,y,w,h" for scripted runs), log_level (``rgbt_tracker_ros.ros.launch_support.TRACK_ARGUMENTS``). Values
given here override the parameter file; an empty model or initial_box leaves the file's value.
"""
from launch import LaunchDescription
from launch.actions import OpaqueFunction
from launch_ros.actions import LifecycleNode

from rgbt_tracker_ros.ros.launch_support import (TRACK_ARGUMENTS, argument_values, camera_remappings, declare,
                                                 given, package_node, truthy)


def _node(context, *args, **kwargs):
    value = argument_values(context, TRACK_ARGUMENTS)
    overrides = {
        "use_sim_time": truthy(value["use_sim_time"]),
        "autostart": truthy(value["autostart"]),
        "debug_image": truthy(value["debug"]),
        **given(value, ("model", "device", "backend", "export_dir")),
    }
    if value["initial_box"]:
        overrides["initial_box"] = [float(v) for v in value["initial_box"].replace(",", " ").split()]
    remappings = camera_remappings(value["rgb_topic"], value["thermal_topic"])
    return [package_node(LifecycleNode, "track_node", value, overrides, remappings)]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(declare(TRACK_ARGUMENTS) + [OpaqueFunction(function=_node)])

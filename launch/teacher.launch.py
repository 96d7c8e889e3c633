"""Start the teacher node: label live topics (or a bag being played) into a teacher bundle.

    ros2 launch rgbt_tracker_ros teacher.launch.py model:=/path/teacher.pth out:=/data/bundle

For recorded bags ``rgbt-tracker label --bag`` does the same offline without dropping frames.
Arguments: model, out, config (default config/teacher.yaml), namespace, rgb_topic, thermal_topic,
use_sim_time, init_file, device, log_level.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

ARGUMENTS = (
    ("model", "", "teacher checkpoint; empty: the config file's model"),
    ("out", "", "bundle folder; empty: the config file's out"),
    ("config", PathJoinSubstitution([FindPackageShare("rgbt_tracker_ros"), "config", "teacher.yaml"]),
     "parameter file of the node"),
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
    value = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    overrides = {"use_sim_time": value["use_sim_time"].strip().lower() in ("1", "true", "yes", "on")}
    for name in ("model", "out", "init_file", "device"):
        if value[name]:
            overrides[name] = value[name]
    remappings = [("ground_truth", value["ground_truth_topic"])]
    for relative, topic in (("rgb/image_raw", value["rgb_topic"]), ("thermal/image_raw", value["thermal_topic"])):
        remappings += [(relative, topic), (f"{relative}/compressed", f"{topic}/compressed")]
    return [
        Node(
            package="rgbt_tracker_ros",
            executable="teacher_node",
            name="teacher_node",
            namespace=value["namespace"],
            parameters=[value["config"], overrides],
            remappings=remappings,
            arguments=["--ros-args", "--log-level", value["log_level"]],
            output="screen",
            emulate_tty=True,
        )
    ]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=text) for name, default, text in ARGUMENTS]
        + [OpaqueFunction(function=_node)]
    )

"""Start the RGB-T tracking node (lifecycle) with its parameter file, topic remaps and sim time.

    ros2 launch rgbt_tracker_ros track.launch.py model:=/path/student.pth \
        rgb_topic:=/camera/color/image_raw thermal_topic:=/thermal/image_raw

Arguments: model, config (parameter file, default config/track.yaml), namespace, rgb_topic,
thermal_topic, use_sim_time, autostart, debug (create ~/debug_image), device, backend, export_dir, initial_box
("x,y,w,h" for scripted runs), log_level. Values given here override the parameter file; an
empty model or initial_box leaves the file's value.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode
from launch_ros.substitutions import FindPackageShare

ARGUMENTS = (
    ("model", "", "checkpoint of the tracking model; empty: the config file's model"),
    ("config", PathJoinSubstitution([FindPackageShare("rgbt_tracker_ros"), "config", "track.yaml"]),
     "parameter file of the node"),
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


def _truthy(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


def _node(context, *args, **kwargs):
    value = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    overrides = {
        "use_sim_time": _truthy(value["use_sim_time"]),
        "autostart": _truthy(value["autostart"]),
        "debug_image": _truthy(value["debug"]),
    }
    if value["model"]:
        overrides["model"] = value["model"]
    for name in ("device", "backend", "export_dir"):
        if value[name]:
            overrides[name] = value[name]
    if value["initial_box"]:
        overrides["initial_box"] = [float(v) for v in value["initial_box"].replace(",", " ").split()]
    remappings = []
    for relative, topic in (("rgb/image_raw", value["rgb_topic"]), ("thermal/image_raw", value["thermal_topic"])):
        remappings += [(relative, topic), (f"{relative}/compressed", f"{topic}/compressed")]
    return [
        LifecycleNode(
            package="rgbt_tracker_ros",
            executable="track_node",
            name="track_node",
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

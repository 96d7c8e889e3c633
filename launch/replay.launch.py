"""Replay a rosbag2 into the tracking node on simulated time.

    ros2 launch rgbt_tracker_ros replay.launch.py bag:=/data/synth000001 model:=/path/student.pth \
        initial_box:=120,80,40,60

Starts track.launch.py with ``use_sim_time:=true`` and, as soon as the node is active (model
loaded, cameras subscribed), ``ros2 bag play BAG --clock`` so that /clock follows the recording and
the node's latency and timers use the bag's time; no frame of the bag is played to a node that is
still loading, so ``initial_box`` applies to the bag's first frame. If the node cannot activate,
the bag is not played (the node's log says why). Every track.launch.py argument can be given here too.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription, RegisterEventHandler
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.event_handlers import OnStateTransition
from launch_ros.substitutions import FindPackageShare

#: Arguments passed through to track.launch.py (with its defaults).
TRACK_ARGUMENTS = (
    ("model", "", "checkpoint of the tracking model; empty: the config file's model"),
    ("config", PathJoinSubstitution([FindPackageShare("rgbt_tracker_ros"), "config", "track.yaml"]),
     "parameter file of the node"),
    ("namespace", "", "namespace of the node"),
    ("rgb_topic", "/rgb/image_raw", "RGB image topic in the bag"),
    ("thermal_topic", "/thermal/image_raw", "thermal image topic in the bag"),
    ("autostart", "true", "configure and activate the node at start-up"),
    ("debug", "true", "create ~/debug_image"),
    ("device", "", "auto, cpu, cuda or cuda:N; empty: the config file's device"),
    ("backend", "", "inference backend: torch, onnxruntime or tensorrt; empty: the config file's backend"),
    ("export_dir", "", "ONNX export folder for onnxruntime / tensorrt; empty: the config file's (a cache folder)"),
    ("initial_box", "", "x,y,w,h box for the first replayed frame; empty: wait for ~/init"),
    ("log_level", "info", "ROS log level of the node"),
)


def generate_launch_description() -> LaunchDescription:
    track_launch = PathJoinSubstitution([FindPackageShare("rgbt_tracker_ros"), "launch", "track.launch.py"])
    passed = {name: LaunchConfiguration(name) for name, _, _ in TRACK_ARGUMENTS}
    return LaunchDescription(
        [
            DeclareLaunchArgument("bag", description="rosbag2 folder (or .db3/.mcap) to play"),
            DeclareLaunchArgument("rate", default_value="1.0", description="playback rate"),
            *[DeclareLaunchArgument(name, default_value=value, description=text)
              for name, value, text in TRACK_ARGUMENTS],
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(track_launch),
                launch_arguments={**passed, "use_sim_time": "true"}.items(),
            ),
            RegisterEventHandler(
                OnStateTransition(  # the launch's only lifecycle node: track_node
                    goal_state="active",
                    entities=[
                        ExecuteProcess(
                            cmd=["ros2", "bag", "play", LaunchConfiguration("bag"), "--clock",
                                 "--rate", LaunchConfiguration("rate")],
                            output="screen",
                        )
                    ],
                    handle_once=True,
                )
            ),
        ]
    )

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

from rgbt_tracker_ros.ros.launch_support import PACKAGE, TRACK_ARGUMENTS, declare

#: Arguments passed through to track.launch.py (with its defaults); use_sim_time is always true here.
PASSED_ARGUMENTS = tuple(argument for argument in TRACK_ARGUMENTS if argument[0] != "use_sim_time")


def generate_launch_description() -> LaunchDescription:
    track_launch = PathJoinSubstitution([FindPackageShare(PACKAGE), "launch", "track.launch.py"])
    passed = {name: LaunchConfiguration(name) for name, _, _ in PASSED_ARGUMENTS}
    return LaunchDescription(
        [
            DeclareLaunchArgument("bag", description="rosbag2 folder (or .db3/.mcap) to play"),
            DeclareLaunchArgument("rate", default_value="1.0", description="playback rate"),
            *declare(PASSED_ARGUMENTS),
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

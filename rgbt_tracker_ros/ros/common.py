"""rclpy helpers shared by the track and teacher nodes: parameters, QoS, the synchronised image pair input.

Thin glue only; what the nodes compute lives in ROS-free modules (``node.session``,
``node.messages``, ``node.diagnostics``, ``distill.bundle``).
"""
from __future__ import annotations

from typing import Any, Callable

import message_filters
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from rgbt_tracker_ros.data import topics
from rgbt_tracker_ros.node.parameters import RELIABILITIES, TRANSPORTS, NodeParameter, check_choice

#: Relative input topic names, so a node namespace applies; remap them in the launch file.
RGB_INPUT = topics.RGB_TOPIC.lstrip("/")
THERMAL_INPUT = topics.THERMAL_TOPIC.lstrip("/")
#: Publishers: reliable, depth 10.
OUTPUT_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)


def load_tracker(tracker: str, model: str, params: str, device: str, fp16: bool) -> Any:
    """The tracker of the node parameters (``tracking.factory.create_tracker``).

    For ``dimp`` the tracker parameters (bundled name or YAML, ``""``: dimp) get ``fp16`` set; other
    trackers (e.g. the OpenCV baselines, which need no model) take ``params`` as given.
    """
    from rgbt_tracker_ros.tracking.factory import create_tracker

    if tracker != "dimp":
        return create_tracker(tracker, model=model or None, params=params or None, device=device)
    import dataclasses

    from rgbt_tracker_ros.tracking.params import load_params

    tracker_params = dataclasses.replace(load_params(params or None), fp16=bool(fp16))
    return create_tracker(tracker, model=model or None, params=tracker_params, device=device)


def declare_parameters(node: Node, table: tuple[NodeParameter, ...]) -> None:
    """Declare every parameter of ``table`` with its default and description."""
    for parameter in table:
        node.declare_parameter(
            parameter.name,
            parameter.default,
            ParameterDescriptor(description=parameter.description, read_only=parameter.read_only),
        )


def parameter(node: Node, name: str) -> Any:
    """The current value of a declared parameter."""
    return node.get_parameter(name).value


def sensor_qos(reliability: str, depth: int) -> QoSProfile:
    """Sensor-data QoS (best effort, volatile, keep last ``depth``), or reliable when asked."""
    check_choice("qos_reliability", reliability, RELIABILITIES)
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=int(depth),
        reliability=ReliabilityPolicy.BEST_EFFORT if reliability == "best_effort" else ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.VOLATILE,
    )


class PairInput:
    """RGB + thermal subscriptions joined by message_filters' ApproximateTimeSynchronizer.

    ``on_pair(rgb_msg, thermal_msg)`` gets every synchronised pair; ``on_message(modality)`` every
    raw message (for input counts). Created on activation and destroyed on deactivation, so an
    inactive node does not receive images at all.
    """

    def __init__(
        self,
        node: Node,
        on_pair: Callable[[Any, Any], None],
        on_message: Callable[[str], None],
    ) -> None:
        self._node = node
        qos = sensor_qos(parameter(node, "qos_reliability"), parameter(node, "qos_depth"))
        self.subscribers = []
        for modality, base in (("rgb", RGB_INPUT), ("thermal", THERMAL_INPUT)):
            transport = check_choice(f"{modality}_transport", parameter(node, f"{modality}_transport"), TRANSPORTS)
            msg_type, topic = (Image, base) if transport == "raw" else (CompressedImage, f"{base}/compressed")
            subscriber = message_filters.Subscriber(node, msg_type, topic, qos_profile=qos)
            subscriber.registerCallback(lambda _msg, modality=modality: on_message(modality))
            self.subscribers.append(subscriber)
        self.synchronizer = message_filters.ApproximateTimeSynchronizer(
            self.subscribers, int(parameter(node, "sync_queue_size")), float(parameter(node, "sync_slop"))
        )
        self.synchronizer.registerCallback(on_pair)

    @property
    def topics(self) -> list[str]:
        """The resolved topic names subscribed to."""
        return [getattr(subscriber.sub, "topic_name", subscriber.getTopic()) for subscriber in self.subscribers]

    def destroy(self) -> None:
        for subscriber in self.subscribers:
            self._node.destroy_subscription(subscriber.sub)
        self.subscribers = []

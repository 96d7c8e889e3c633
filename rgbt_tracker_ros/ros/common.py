"""rclpy helpers shared by the track and teacher nodes: parameters, QoS, the synchronised image pair input.

Thin glue only; what the nodes compute lives in ROS-free modules (``node.session``,
``node.messages``, ``node.diagnostics``, ``distill.bundle``).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

import message_filters
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from rgbt_tracker_ros.data import topics
from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.node.parameters import RELIABILITIES, TRANSPORTS, NodeParameter, check_choice, coerce

#: Relative input topic names, so a node namespace applies; remap them in the launch file.
RGB_INPUT = topics.RGB_TOPIC.lstrip("/")
THERMAL_INPUT = topics.THERMAL_TOPIC.lstrip("/")
#: Publishers: reliable, depth 10.
OUTPUT_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)


def load_tracker(tracker: str, model: str, params: str, device: str, fp16: bool, backend: str = "torch",
                 export_dir: str = "") -> Any:
    """The tracker of the node parameters (``tracking.factory.create_tracker``).

    For the model trackers (``dimp``, ``ainet``) the tracker parameters (bundled name or YAML, ``""``: the
    tracker's own file) get ``fp16`` set, which the tensorrt backend reads as the engine precision; other
    trackers (e.g. the OpenCV baselines, which need no model) take ``params`` as given.
    """
    from rgbt_tracker_ros.tracking.backends import check_backend
    from rgbt_tracker_ros.tracking.factory import MODEL_TRACKERS, create_tracker, load_tracker_params

    check_backend(backend)
    if tracker not in MODEL_TRACKERS:
        return create_tracker(tracker, model=model or None, params=params or None, device=device)
    import dataclasses

    tracker_params = dataclasses.replace(load_tracker_params(tracker, params or None), fp16=bool(fp16))
    return create_tracker(tracker, model=model or None, params=tracker_params, device=device, backend=backend,
                          export_dir=export_dir or None)


def image_msg(array: np.ndarray, encoding: str, stamp: Any, frame_id: str) -> Image:
    """A ``sensor_msgs/Image`` holding ``array`` (HxW or HxWxC, native little-endian) as ``encoding``."""
    msg = Image()
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    msg.height, msg.width = int(array.shape[0]), int(array.shape[1])
    msg.encoding, msg.is_bigendian = encoding, 0
    msg.step = int(array.strides[0]) if array.size else 0
    msg.data = np.ascontiguousarray(array).tobytes()
    return msg


def declare_parameters(node: Node, table: tuple[NodeParameter, ...]) -> None:
    """Declare every parameter of ``table`` with its default and description, dynamically typed.

    Values are checked by :func:`check_parameters` (start-up) and, for ``ros2 param set``, by a
    set-parameters callback registered after the declarations; both use
    :func:`rgbt_tracker_ros.node.parameters.coerce`, so an integer for a float is accepted and a
    wrong type is one clear line instead of a dead node.
    """
    for declared in table:
        node.declare_parameter(
            declared.name,
            declared.default,
            ParameterDescriptor(description=declared.described, read_only=declared.read_only, dynamic_typing=True),
        )
    node.add_on_set_parameters_callback(_check_set_parameters)


def _check_set_parameters(parameters: list) -> SetParametersResult:
    """Refuse a ``ros2 param set`` whose value has the wrong type (an integer for a float is fine)."""
    for changed in parameters:
        try:
            coerce(changed.name, changed.value)
        except KeyError:
            continue  # not ours (use_sim_time and other rclpy parameters)
        except InputError as err:
            return SetParametersResult(successful=False, reason=str(err))
    return SetParametersResult(successful=True)


def check_parameters(node: Node, table: tuple[NodeParameter, ...]) -> None:
    """:class:`InputError` naming every declared parameter whose value has the wrong type."""
    errors = []
    for declared in table:
        try:
            parameter(node, declared.name)
        except InputError as err:
            errors.append(str(err))
    if errors:
        raise InputError("; ".join(errors))


def parameter(node: Node, name: str) -> Any:
    """The current value of a declared parameter, as its declared type (:class:`InputError` if it is not)."""
    return coerce(name, node.get_parameter(name).value)


def sensor_qos(reliability: str, depth: int) -> QoSProfile:
    """Sensor-data QoS (best effort, volatile, keep last ``depth``), or reliable when asked."""
    check_choice("qos_reliability", reliability, RELIABILITIES)
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.BEST_EFFORT if reliability == "best_effort" else ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.VOLATILE,
    )


class PairInput:
    """RGB + thermal subscriptions joined by message_filters' ApproximateTimeSynchronizer.

    ``on_pair(rgb_msg, thermal_msg)`` gets every synchronised pair; ``on_message(modality, msg)``
    every raw message first (input counts, timing). Created on activation and destroyed on deactivation, so an
    inactive node does not receive images at all.
    """

    def __init__(
        self,
        node: Node,
        on_pair: Callable[[Any, Any], None],
        on_message: Callable[[str, Any], None],
    ) -> None:
        self._node = node
        qos = sensor_qos(parameter(node, "qos_reliability"), parameter(node, "qos_depth"))
        self.subscribers = []
        for modality, base in (("rgb", RGB_INPUT), ("thermal", THERMAL_INPUT)):
            transport = check_choice(f"{modality}_transport", parameter(node, f"{modality}_transport"), TRANSPORTS)
            msg_type, topic = (Image, base) if transport == "raw" else (CompressedImage, f"{base}/compressed")
            subscriber = message_filters.Subscriber(node, msg_type, topic, qos_profile=qos)
            subscriber.registerCallback(lambda msg, modality=modality: on_message(modality, msg))
            self.subscribers.append(subscriber)
        self.synchronizer = message_filters.ApproximateTimeSynchronizer(
            self.subscribers, parameter(node, "sync_queue_size"), parameter(node, "sync_slop")
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

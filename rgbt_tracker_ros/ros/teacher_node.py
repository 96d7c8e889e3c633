"""``teacher_node``: run the frozen CMD teacher on live topics (or a bag being played) and write a teacher bundle.

For recorded bags ``rgbt-tracker label --bag`` does the same without ROS and without dropping
frames; this node is for data that only exists as topics. Every synchronised pair is queued in
order (a bounded FIFO: when the teacher falls ``queue_max`` pairs behind, new pairs are dropped and
counted) and labelled. Each initialisation starts a new bundle sequence
``<sequence_prefix>_<init stamp ms>_<track id>``; ``~/reset`` or shutdown completes it (box files,
inspection bag). Initial boxes come from ``~/init`` (vision_msgs/Detection2D, header stamp = the
frame it was drawn on; cached frames after it are labelled too), the first non-empty
``ground_truth`` Detection2DArray (``use_ground_truth``), ``initial_box`` or ``init_file``.
Publishes ``~/detections`` (vision_msgs/Detection2DArray) for monitoring. Bundle layout:
:mod:`rgbt_tracker_ros.data.bundle`.
"""
from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any, Optional

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.logging import get_logger
from rclpy.node import Node
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection2D, Detection2DArray

from rgbt_tracker_ros.data import topics
from rgbt_tracker_ros.data.bags import ground_truth_boxes
from rgbt_tracker_ros.data.bundle import BundleWriter, SequenceWriter, file_sha256
from rgbt_tracker_ros.errors import InputError, RgbtError
from rgbt_tracker_ros.ros.common import (
    OUTPUT_QOS,
    PairInput,
    check_parameters,
    declare_parameters,
    load_tracker,
    parameter,
)
from rgbt_tracker_ros.node.messages import MessageTypes, decode_pair, detection_to_box, stamp_to_ns, tracking_output
from rgbt_tracker_ros.node.parameters import TEACHER_NODE_PARAMETERS, optional_box
from rgbt_tracker_ros.tracking.base import TrackState
from rgbt_tracker_ros.tracking.factory import tracker_for_checkpoint
from rgbt_tracker_ros.node.session import FrameQueue, InferenceWorker, SessionOutput, StampedFrame, TrackingSession
from rgbt_tracker_ros.tracking.labelling import teacher_outputs


class TeacherNode(Node):
    """Labels live RGB-T pairs with the teacher into a bundle (see the module docstring)."""

    def __init__(self, node_name: str = "teacher_node", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        declare_parameters(self, TEACHER_NODE_PARAMETERS)
        check_parameters(self, TEACHER_NODE_PARAMETERS)
        model, out = str(parameter(self, "model")), str(parameter(self, "out"))
        if not model or not Path(model).is_file():
            raise InputError(f"parameter model must name the teacher checkpoint file, got {model!r}")
        if not out:
            raise InputError("parameter out must name the bundle folder to write")
        self._types = MessageTypes.from_ros()
        tracker_name = tracker_for_checkpoint(model)  # dimp (CMD teacher) or ainet
        self._tracker = load_tracker(tracker_name, model, parameter(self, "tracker_params"), parameter(self, "device"),
                                     False)
        self.get_logger().info(f"teacher {model} loaded on {getattr(self._tracker, 'device', 'cpu')}")
        feature_keys = [k.strip() for k in str(parameter(self, "feature_keys")).split(",") if k.strip()]
        self._bundle = BundleWriter(
            out,
            {"checkpoint": str(Path(model).resolve()), "sha256": file_sha256(model),
             "params": parameter(self, "tracker_params") or tracker_name},
            frames=parameter(self, "frames"),
            chunk_size=parameter(self, "chunk_size"),
            feature_keys=feature_keys,
            resume=True,
        )
        self._bundle_lock = threading.Lock()
        self._writer: Optional[SequenceWriter] = None
        self._writer_track = ""
        self._init_origin = ""
        self._pair_count = 0
        self._queue = FrameQueue(parameter(self, "queue_max"))
        self._session = TrackingSession(
            self._decode,
            cache_size=parameter(self, "frame_cache_size"),
            stamp_tolerance_ns=int(parameter(self, "init_stamp_tolerance") * 1e9),
            tracker=self._tracker,
            replay_cached=True,
            capture=teacher_outputs,
        )
        self._request_start_box()
        self._detections_pub = self.create_publisher(Detection2DArray, "~/detections", OUTPUT_QOS)
        self.create_subscription(Detection2D, "~/init", self._on_init, OUTPUT_QOS)
        if parameter(self, "use_ground_truth"):
            self.create_subscription(
                Detection2DArray, topics.GROUND_TRUTH_TOPIC.lstrip("/"), self._on_ground_truth, OUTPUT_QOS
            )
        self.create_service(Trigger, "~/reset", self._on_reset)
        self._pairs = PairInput(self, self._on_pair, lambda _modality, _msg: None)
        self._worker = InferenceWorker(self._queue, self._session, self._store, self._on_worker_error, name="teacher")
        self._worker.start()
        self.create_timer(10.0, self._report_progress)
        self.get_logger().info(f"labelling {' + '.join(self._pairs.topics)} into {out}")

    def _request_start_box(self) -> None:
        box = optional_box(parameter(self, "initial_box"))
        origin = "initial_box"
        init_file = str(parameter(self, "init_file"))
        if init_file:
            from rgbt_tracker_ros.data.datasets import read_boxes

            if not Path(init_file).is_file():
                raise InputError(f"parameter init_file: {init_file} does not exist")
            box, origin = read_boxes(init_file)[0].tolist(), f"init_file {init_file}"
        if box is not None:
            self._session.request_init(box)
            self._init_origin = origin

    # ------------------------------------------------------------------ callbacks (executor thread)
    def _on_pair(self, rgb_msg: Any, thermal_msg: Any) -> None:
        frame = StampedFrame(stamp_to_ns(rgb_msg.header.stamp), (self._pair_count, rgb_msg, thermal_msg))
        self._pair_count += 1
        self._session.remember(frame)
        self._queue.put(frame)

    def _on_init(self, msg: Any) -> None:
        try:
            self._session.request_init(detection_to_box(msg), stamp_to_ns(msg.header.stamp))
        except RgbtError as err:
            self.get_logger().warning(f"~/init rejected: {err}")
            return
        self._init_origin = "~/init"

    def _on_ground_truth(self, msg: Any) -> None:
        if self._session.initialized or self._session.init_pending:
            return
        box, _ = ground_truth_boxes(msg)
        if box is None:
            return
        try:
            self._session.request_init(box, stamp_to_ns(msg.header.stamp))
        except RgbtError as err:
            self.get_logger().warning(f"ground-truth box ignored: {err}", throttle_duration_sec=5.0)
            return
        self._init_origin = "ground truth"

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self._session.reset()
        with self._bundle_lock:
            name = self._close_sequence()
        response.success = True
        response.message = f"sequence {name} completed" if name else "no sequence was open"
        return response

    def _report_progress(self) -> None:
        writer = self._writer
        self.get_logger().info(
            f"{self._queue.received} pairs received, {self._queue.dropped} dropped (teacher behind); "
            + (f"sequence {writer.name}: {writer.next_index} frames" if writer else "no target")
        )

    # ------------------------------------------------------------------ inference thread
    def _decode(self, item: Any):
        index, rgb_msg, thermal_msg = item
        return decode_pair(rgb_msg, thermal_msg, index)

    def _store(self, output: SessionOutput) -> None:
        response, search_box, features, flag = output.extras
        with self._bundle_lock:
            if output.initialized or self._writer is None or self._writer_track != output.track_id:
                self._close_sequence()
                name = f"{parameter(self, 'sequence_prefix')}_{output.frame.stamp_ns // 1_000_000}_{output.track_id}"
                source = {
                    "kind": "live",
                    "rgb_topic": self._pairs.topics[0],
                    "thermal_topic": self._pairs.topics[1],
                    "node": self.get_fully_qualified_name(),
                }
                init = {"box": [float(v) for v in output.result.box], "from": self._init_origin}
                self._writer = self._bundle.sequence(name, source, init)
                self._writer_track = output.track_id
                self.get_logger().info(f"started sequence {name} ({self._init_origin})")
            self._writer.add(
                output.pair, output.result, response, search_box,
                source_index=output.pair.index, stamp_ns=output.frame.stamp_ns, features=features, flag=flag,
            )
        rgb_header = output.frame.item[1].header
        box = None if TrackState(output.result.state) == TrackState.LOST else output.result.box
        message = tracking_output(rgb_header, box, output.result.score, output.track_id, self._types)
        self._detections_pub.publish(message)

    def _close_sequence(self) -> str:
        """Complete the open sequence (holds the bundle lock); returns its name, ``""`` if none."""
        writer, self._writer, self._writer_track = self._writer, None, ""
        if writer is None:
            return ""
        labels = writer.close()
        self.get_logger().info(f"sequence {writer.name} completed: {len(labels)} frames")
        return writer.name

    def _on_worker_error(self, error: Exception) -> None:
        if isinstance(error, RgbtError):
            self.get_logger().warning(f"skipped a pair: {error}", throttle_duration_sec=5.0)
        else:
            self.get_logger().error(f"teacher failed: {type(error).__name__}: {error}", throttle_duration_sec=5.0)

    def close(self) -> None:
        """Stop labelling and complete the open sequence."""
        self._pairs.destroy()
        self._worker.stop(timeout=30.0)
        with self._bundle_lock:
            self._close_sequence()


def main(args: Optional[list[str]] = None) -> None:
    """Entry point of ``ros2 run rgbt_tracker_ros teacher_node``."""
    rclpy.init(args=args)
    try:
        node = TeacherNode()
    except (RgbtError, FileNotFoundError) as err:
        get_logger("teacher_node").fatal(str(err))
        rclpy.try_shutdown()
        sys.exit(2)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.close()
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()

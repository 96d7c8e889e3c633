"""``track_node``: real-time RGB-T single-object tracking as a ROS 2 lifecycle node (Humble, Jazzy).

Lifecycle: *configure* checks the parameters (types included: an integer is fine for a float) and
creates the services, the ``~/init`` subscription and the publishers; *activate* loads the model
(CUDA when present with ``device: auto``; the log and the ``device`` diagnostic say which),
subscribes to the cameras and starts the inference thread; *deactivate* stops them and frees the
model (and its CUDA memory); *cleanup* removes the interfaces. ``autostart: true`` runs configure +
activate at start-up. A transition that fails (a wrong parameter type, a model that does not load)
logs one line, undoes what it had started and leaves the node alive in the previous state
(unconfigured / inactive); the ``tracker`` diagnostic reports the state and the error.

Data path: ``message_filters`` ApproximateTimeSynchronizer -> :class:`NewestPairSlot` ->
inference thread (:class:`InferenceWorker` + :class:`TrackingSession`) -> ``~/detections`` and,
while subscribed, ``~/debug_image``. The per-frame work besides rclpy (stage timing, decoding, the
result message, the debug image, the diagnostics content) is :class:`FramePipeline`'s. The
subscription callbacks only store references; inference never blocks them and never queues: it
takes the newest pair and the replaced ones are counted as dropped. A bad pair (unknown encoding,
cameras of different sizes, empty image) is logged (throttled), counted in diagnostics and skipped.

Interfaces (relative names; remap them): subscribes ``rgb/image_raw`` and ``thermal/image_raw``
(``.../compressed`` with ``*_transport: compressed``) and ``~/init`` (vision_msgs/Detection2D);
services ``~/reset`` (std_srvs/Trigger) and ``~/enable`` (std_srvs/SetBool); publishes
``~/detections`` (vision_msgs/Detection2DArray), ``~/debug_image`` (sensor_msgs/Image, bgr8) and
``/diagnostics`` through one diagnostic_updater.Updater.
"""
from __future__ import annotations

import gc
import time
from typing import Any, Callable, Optional

import rclpy
from cv_bridge import CvBridge
from diagnostic_msgs.msg import DiagnosticStatus
from diagnostic_updater import FrequencyStatusParam, HeaderlessTopicDiagnostic, Updater
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import State, TransitionCallbackReturn
from sensor_msgs.msg import Image
from std_srvs.srv import SetBool, Trigger
from vision_msgs.msg import Detection2D, Detection2DArray

from rgbt_tracker_ros.data.sync import NewestPairSlot
from rgbt_tracker_ros.errors import RgbtError
from rgbt_tracker_ros.node import diagnostics as health
from rgbt_tracker_ros.ros.common import (
    OUTPUT_QOS,
    PairInput,
    check_parameters,
    declare_parameters,
    load_tracker,
    parameter,
)
from rgbt_tracker_ros.node.messages import MessageTypes, detection_to_box, stamp_to_ns
from rgbt_tracker_ros.node.parameters import TRACK_NODE_PARAMETERS, optional_box
from rgbt_tracker_ros.node.pipeline import FramePipeline
from rgbt_tracker_ros.node.session import InferenceWorker, SessionOutput, TrackingSession

_LEVELS = {
    health.Level.OK: DiagnosticStatus.OK,
    health.Level.WARN: DiagnosticStatus.WARN,
    health.Level.ERROR: DiagnosticStatus.ERROR,
    health.Level.STALE: DiagnosticStatus.STALE,
}


def fill_status(stat: Any, record: health.HealthRecord) -> Any:
    """Copy a :class:`HealthRecord` into a ``DiagnosticStatusWrapper``."""
    stat.summary(_LEVELS[record.level], record.message)
    for key, value in record.values.items():
        stat.add(key, value)
    return stat


def _reporting_errors(task: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A diagnostic task that reports an :class:`RgbtError` (e.g. a mistyped parameter) as ERROR instead of
    raising it into the executor."""

    def run(stat: Any) -> Any:
        try:
            return task(stat)
        except RgbtError as err:
            stat.summary(DiagnosticStatus.ERROR, str(err))
            return stat

    return run


class TrackNode(LifecycleNode):
    """The tracking lifecycle node (see the module docstring)."""

    def __init__(self, node_name: str = "track_node", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        declare_parameters(self, TRACK_NODE_PARAMETERS)
        self._pipeline = FramePipeline(MessageTypes.from_ros())
        self._bridge = CvBridge()
        self._slot: NewestPairSlot = NewestPairSlot()
        self._session: Optional[TrackingSession] = None
        self._worker: Optional[InferenceWorker] = None
        self._pairs: Optional[PairInput] = None
        self._tracker = None
        self._device: Optional[str] = None
        self._initial_box: Optional[list[float]] = None
        self._detections_pub = None
        self._debug_pub = None
        # not ``_services``: rclpy's Node keeps the services its executor serves under that name
        self._command_services: list = []
        self._init_sub = None
        self._lifecycle_state = "unconfigured"
        self._transition_error = ""
        self._diagnostics_started_s = 0.0
        self._rate_diagnostics: list[HeaderlessTopicDiagnostic] = []
        self._updater = Updater(self)
        self._updater.setHardwareID("rgbt_tracker_ros")
        for name, task in (
            ("pipeline", self._diagnose_pipeline),
            ("tracker", self._diagnose_tracker),
            ("modality health", self._diagnose_modalities),
            ("device", self._diagnose_device),
        ):
            self._updater.add(name, _reporting_errors(task))

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        try:
            check_parameters(self, TRACK_NODE_PARAMETERS)
            initial_box = optional_box(parameter(self, "initial_box"))
            self._session = TrackingSession(
                self._pipeline.decode,
                cache_size=parameter(self, "frame_cache_size"),
                stamp_tolerance_ns=int(parameter(self, "init_stamp_tolerance") * 1e9),
            )
        except RgbtError as err:
            return self._failed("configure", err, "unconfigured")
        self._initial_box = initial_box
        self._detections_pub = self.create_lifecycle_publisher(Detection2DArray, "~/detections", OUTPUT_QOS)
        if parameter(self, "debug_image"):
            self._debug_pub = self.create_lifecycle_publisher(Image, "~/debug_image", OUTPUT_QOS)
        self._init_sub = self.create_subscription(Detection2D, "~/init", self._on_init, OUTPUT_QOS)
        self._command_services = [
            self.create_service(Trigger, "~/reset", self._on_reset),
            self.create_service(SetBool, "~/enable", self._on_enable),
        ]
        self._entered("inactive")
        self.get_logger().info("configured; activate to load the model and subscribe to the cameras")
        return super().on_configure(state)

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        try:
            self._activate(state)
        except Exception as err:  # noqa: BLE001 - any failure is reported and undone; the node stays inactive
            self._stop_inference()
            super().on_deactivate(state)  # the lifecycle publishers were enabled before the failure
            return self._failed("activate", err, "inactive")
        self._entered("active")
        self.get_logger().info(f"tracking {' + '.join(self._pairs.topics)}; send a box on ~/init")
        return TransitionCallbackReturn.SUCCESS

    def _activate(self, state: State) -> None:
        """Load the model, enable the publishers, subscribe to the cameras, then start the inference thread."""
        requested = parameter(self, "device")
        started = time.monotonic()
        self._tracker = load_tracker(
            parameter(self, "tracker"), parameter(self, "model"), parameter(self, "tracker_params"),
            requested, parameter(self, "fp16"), parameter(self, "backend"), parameter(self, "export_dir"),
        )
        self._device = str(getattr(self._tracker, "device", "cpu"))
        reason = "" if requested != "auto" or self._device.startswith("cuda") else " (CUDA not available to torch)"
        self.get_logger().info(
            f"model loaded in {time.monotonic() - started:.1f} s on {self._device}{reason}"
            + (", fp16" if self._fp16_active() else "")
        )
        self._updater.setHardwareID(self._device)
        if super().on_activate(state) != TransitionCallbackReturn.SUCCESS:  # publishers on before the first result
            raise RgbtError("the lifecycle publishers could not be activated")
        self._session.attach(self._tracker)
        if self._initial_box is not None:
            self._session.request_init(self._initial_box)
        self._slot = NewestPairSlot()
        bounds = {"min": parameter(self, "expected_rate_min"), "max": parameter(self, "expected_rate_max")}
        self._rate_diagnostics = [
            HeaderlessTopicDiagnostic(name, self._updater, FrequencyStatusParam(bounds, 0.1, 10))
            for name in ("synchronised pairs", "detections")
        ]
        self._pairs = PairInput(self, self._on_pair, self._on_message)
        self._worker = InferenceWorker(self._slot, self._session, self._publish, self._on_worker_error)
        self._worker.start()

    def _failed(self, transition: str, error: Exception, state: str) -> TransitionCallbackReturn:
        """Log and report a failed transition; the node stays in ``state``."""
        self._transition_error = f"{transition} failed: {error}"
        self.get_logger().error(
            f"{self._transition_error}; the node stays {state} "
            f"(retry: ros2 lifecycle set {self.get_fully_qualified_name()} {transition})"
        )
        return TransitionCallbackReturn.FAILURE

    def _entered(self, state: str) -> None:
        self._lifecycle_state, self._transition_error = state, ""

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self._stop_inference()
        self._entered("inactive")
        self.get_logger().info("deactivated: model freed")
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self._destroy_interfaces()
        self._entered("unconfigured")
        return super().on_cleanup(state)

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        self._stop_inference()
        self._destroy_interfaces()
        self._entered("finalized")
        return super().on_shutdown(state)

    def _stop_inference(self) -> None:
        if self._pairs is not None:
            self._pairs.destroy()
            self._pairs = None
        if self._worker is not None:
            if not self._worker.stop(timeout=10.0):
                self.get_logger().warning("inference thread still busy after 10 s; freeing the model anyway")
            self._worker = None
        for diagnostic in self._rate_diagnostics:
            self._updater.removeByName(diagnostic.getName())
        self._rate_diagnostics = []
        if self._session is not None:
            self._session.detach()
        self._tracker, self._device = None, None
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _destroy_interfaces(self) -> None:
        for service in self._command_services:
            self.destroy_service(service)
        self._command_services = []
        if self._init_sub is not None:
            self.destroy_subscription(self._init_sub)
            self._init_sub = None
        for publisher in (self._detections_pub, self._debug_pub):
            if publisher is not None:
                self.destroy_lifecycle_publisher(publisher)
        self._detections_pub = self._debug_pub = None
        self._session = None

    def _fp16_active(self) -> bool:
        return bool(self._device and self._device.startswith("cuda")) and parameter(self, "fp16")

    # ------------------------------------------------------------------ callbacks (executor thread)
    def _on_message(self, modality: str, msg: Any) -> None:
        self._pipeline.message_received(modality, msg, self.get_clock().now().nanoseconds)

    def _on_pair(self, rgb_msg: Any, thermal_msg: Any) -> None:
        frame = self._pipeline.pair_received(rgb_msg, thermal_msg)
        self._session.remember(frame)
        self._slot.put(frame)
        self._rate_diagnostics[0].tick()

    def _on_init(self, msg: Any) -> None:
        if self._session is None:
            return
        try:
            box = self._session.request_init(detection_to_box(msg), stamp_to_ns(msg.header.stamp))
        except RgbtError as err:
            self.get_logger().warning(f"~/init rejected: {err}")
            return
        when = stamp_to_ns(msg.header.stamp)
        self.get_logger().info(
            f"init box {box.tolist()} for " + (f"the frame stamped {when / 1e9:.3f} s" if when else "the newest frame")
        )

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if self._session is None:
            response.success, response.message = False, "node not configured"
            return response
        ended = self._session.track_id
        self._session.reset()
        response.success = True
        response.message = f"track {ended} ended" if ended else "no target was set"
        self.get_logger().info(f"reset: {response.message}")
        return response

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        if self._session is None:
            response.success, response.message = False, "node not configured"
            return response
        self._session.set_enabled(request.data)
        response.success = True
        response.message = "tracking enabled" if request.data else "tracking paused (target kept)"
        self.get_logger().info(response.message)
        return response

    # ------------------------------------------------------------------ inference thread
    def _publish(self, output: SessionOutput) -> None:
        started = time.monotonic()
        self._detections_pub.publish(self._pipeline.result_message(output))
        self._pipeline.processed(output, self.get_clock().now().nanoseconds)
        if self._rate_diagnostics:
            self._rate_diagnostics[1].tick()
        published = time.monotonic()
        self._pipeline.stats.add_stage("publish", published - started)
        if self._debug_pub is not None and self._debug_pub.get_subscription_count() > 0:
            image = self._bridge.cv2_to_imgmsg(self._pipeline.debug_image(output), encoding="bgr8")
            image.header = output.frame.item.rgb.header
            self._debug_pub.publish(image)
            self._pipeline.stats.add_stage("debug image", time.monotonic() - published)

    def _on_worker_error(self, error: Exception) -> None:
        self._pipeline.stats.count_bad(str(error))
        if isinstance(error, RgbtError):
            self.get_logger().warning(f"skipped a pair: {error}", throttle_duration_sec=5.0)
        else:
            self.get_logger().error(f"inference failed: {type(error).__name__}: {error}", throttle_duration_sec=5.0)

    # ------------------------------------------------------------------ diagnostics (executor thread)
    def _thresholds(self) -> health.HealthThresholds:
        spread = parameter(self, "flat_thermal_spread")
        return health.HealthThresholds(
            latency_warn_s=parameter(self, "latency_warn"),
            latency_error_s=parameter(self, "latency_error"),
            dark_rgb_mean=parameter(self, "dark_rgb_mean"),
            flat_thermal_spread=spread if spread > 0 else None,
        )

    def _diagnose_pipeline(self, stat: Any) -> Any:
        self._diagnostics_started_s = time.monotonic()  # the first task of each updater run (see _diagnose_device)
        record = self._pipeline.pipeline_record(self._thresholds(), self._slot.received, self._slot.dropped)
        return fill_status(stat, record)

    def _diagnose_tracker(self, stat: Any) -> Any:
        record = health.session_record(
            self._session, self._tracker is not None, self._lifecycle_state, self._transition_error
        )
        return fill_status(stat, record)

    def _diagnose_modalities(self, stat: Any) -> Any:
        return fill_status(stat, self._pipeline.modality_record(self._thresholds()))

    def _diagnose_device(self, stat: Any) -> Any:
        memory = health.cuda_memory(self._device) if self._device else None
        backend = getattr(getattr(self._tracker, "backend", None), "name", "")
        record = health.device_record(
            self._device, parameter(self, "device"), self._fp16_active(), self._thresholds(), memory, backend
        )
        fill_status(stat, record)
        self._pipeline.stats.add_stage("diagnostics", time.monotonic() - self._diagnostics_started_s)
        return stat


def main(args: Optional[list[str]] = None) -> None:
    """Entry point of ``ros2 run rgbt_tracker_ros track_node``."""
    rclpy.init(args=args)
    node = TrackNode()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        if parameter(node, "autostart"):
            if node.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                node.trigger_activate()
    except RgbtError as err:
        node.get_logger().error(f"{err}; not starting automatically")
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node._stop_inference()
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()

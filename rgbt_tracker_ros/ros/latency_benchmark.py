"""``ros2 run rgbt_tracker_ros node_latency``: where a track_node frame's time goes under a camera rate.

Publishes a synthetic RGB + 16-bit thermal stream (a textured target bouncing across a noisy
background) at ``--rate`` Hz to a running track_node, sends the init box, and reads back the node's
``/diagnostics`` (its per-stage timings, :data:`rgbt_tracker_ros.node.diagnostics.NODE_STAGES`) and
``~/detections`` (stamp-to-receipt latency, rate, pairs dropped by the newest-pair policy). Before
streaming, it times the bare tracker (the node's ``tracker``/``model``/``device`` given here) on the
same frames in this process, so the node's inference stage can be read against it in one run.
Prints a table; ``--json`` writes it. Start the node first, e.g.::

    ros2 launch rgbt_tracker_ros track.launch.py device:=cpu
    ros2 run rgbt_tracker_ros node_latency --rate 30 --seconds 40 --json node_latency.json
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Optional

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2D, Detection2DArray

from rgbt_tracker_ros.atomic_files import write_text_atomic
from rgbt_tracker_ros.data.frames import FramePair
from rgbt_tracker_ros.node.diagnostics import NODE_STAGES
from rgbt_tracker_ros.ros.common import image_msg

TARGET = 48


def scene(index: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Frame ``index``: RGB (uint8), thermal (uint16 counts) and the target box, 3 px/frame, bouncing."""
    rng = np.random.default_rng(index)
    rgb = rng.integers(20, 60, (height, width, 3), dtype=np.uint8)
    thermal = rng.integers(3000, 3100, (height, width), dtype=np.uint16)
    span = width - TARGET - 1
    travel = (3 * index) % (2 * span)
    x, y = float(travel if travel < span else 2 * span - travel), float((height - TARGET) // 2)
    checker = (np.add.outer(np.arange(TARGET) // 6, np.arange(TARGET) // 6) % 2).astype(np.uint8)
    xi, yi = int(x), int(y)
    rgb[yi:yi + TARGET, xi:xi + TARGET] = np.stack([200 + 50 * checker, 120 * checker, 40 + 0 * checker], axis=2)
    thermal[yi:yi + TARGET, xi:xi + TARGET] = 6000
    return rgb, thermal, [x, y, float(TARGET), float(TARGET)]


def bare_tracker_ms(tracker_name: str, model: str, device: str, frames: list, repeats: int) -> float:
    """Median ms per ``track`` call of the tracker the node runs, on ``frames`` (after a warm-up init)."""
    from rgbt_tracker_ros.tracking.factory import create_tracker

    tracker = create_tracker(tracker_name, model=model or None, device=device)
    times = []
    for _ in range(repeats):
        rgb, thermal, box = frames[0]
        tracker.initialize(FramePair(rgb=rgb, thermal=thermal).validate(), box)
        for rgb, thermal, _ in frames[1:]:
            started = time.perf_counter()
            tracker.track(FramePair(rgb=rgb, thermal=thermal).validate())
            times.append(time.perf_counter() - started)
    return 1e3 * float(np.median(times))


def parse_stage(value: str) -> tuple[float, float]:
    p50, p95 = (float(v) for v in value.split(" / "))
    return p50, p95


def main(args: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node", default="/track_node", help="the track node's name (default /track_node)")
    parser.add_argument("--rgb-topic", default="/rgb/image_raw")
    parser.add_argument("--thermal-topic", default="/thermal/image_raw")
    parser.add_argument("--rate", type=float, default=30.0, help="camera rate (Hz)")
    parser.add_argument("--seconds", type=float, default=40.0, help="how long to stream")
    parser.add_argument("--size", default="640x480", help="image size WxH")
    parser.add_argument("--tracker", default="dimp", help="the node's tracker, for the bare-tracker timing")
    parser.add_argument("--model", default="", help="the node's model ('' = bundled default)")
    parser.add_argument("--device", default="cpu", help="device for the bare-tracker timing")
    parser.add_argument("--json", type=Path, help="write the results here")
    options, ros_args = parser.parse_known_args(args)
    width, height = (int(v) for v in options.size.lower().split("x"))
    frames = [scene(i, width, height) for i in range(60)]
    bare_ms = bare_tracker_ms(options.tracker, options.model, options.device, frames[:30], repeats=2)

    rclpy.init(args=ros_args)
    node = rclpy.create_node("node_latency_benchmark")
    rgb_pub = node.create_publisher(Image, options.rgb_topic, 10)
    thermal_pub = node.create_publisher(Image, options.thermal_topic, 10)
    init_pub = node.create_publisher(Detection2D, f"{options.node}/init", 10)
    received: list[tuple[int, int]] = []  # (stamp ns, receipt ns) of each detection message
    pipeline: dict[str, str] = {}

    def on_detections(msg: Detection2DArray) -> None:
        received.append((msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec, node.get_clock().now().nanoseconds))

    def on_diagnostics(msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.endswith(f"{options.node.rsplit('/', 1)[-1]}: pipeline"):
                pipeline.clear()
                pipeline.update({kv.key: kv.value for kv in status.values})

    node.create_subscription(Detection2DArray, f"{options.node}/detections", on_detections, 100)
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)
    deadline = time.monotonic() + 120
    while rgb_pub.get_subscription_count() == 0 or init_pub.get_subscription_count() == 0:
        if time.monotonic() > deadline:
            raise SystemExit(f"node_latency: no active track node on {options.rgb_topic} / {options.node}/init")
        rclpy.spin_once(node, timeout_sec=0.1)
    period, count, sent = 1.0 / options.rate, int(options.seconds * options.rate), 0
    started = time.monotonic()
    while sent < count:
        rgb, thermal, box = frames[sent % len(frames)]
        stamp = node.get_clock().now().to_msg()
        rgb_pub.publish(image_msg(rgb, "rgb8", stamp, "rgb_camera"))
        thermal_pub.publish(image_msg(thermal, "mono16", stamp, "thermal_camera"))
        if sent % len(frames) == 0:  # the scene loops: re-send the target at each loop start
            init = Detection2D()
            init.header.stamp = stamp
            init.bbox.center.position.x, init.bbox.center.position.y = box[0] + box[2] / 2, box[1] + box[3] / 2
            init.bbox.size_x, init.bbox.size_y = box[2], box[3]
            init_pub.publish(init)
        sent += 1
        while time.monotonic() < started + sent * period:
            rclpy.spin_once(node, timeout_sec=max(0.0, started + sent * period - time.monotonic()))
    end = time.monotonic() + 3.0
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
    node.destroy_node()
    rclpy.try_shutdown()

    latencies = np.array([(r - s) / 1e6 for s, r in received]) if received else np.zeros(1)
    stages = {name: parse_stage(pipeline[f"stage {name} p50 / p95 (ms)"])
              for name in NODE_STAGES if f"stage {name} p50 / p95 (ms)" in pipeline}
    result = {
        "rate_hz": options.rate, "size": [width, height], "frames_sent": sent,
        "detections": len(received), "processed_hz": len(received) / (options.seconds or 1.0),
        "pairs_dropped": int(pipeline.get("pairs dropped (newest-pair policy)", 0)),
        "stamp_to_detection_ms": {"p50": float(np.percentile(latencies, 50)),
                                  "p95": float(np.percentile(latencies, 95))},
        "node_stages_ms": {name: {"p50": p50, "p95": p95} for name, (p50, p95) in stages.items()},
        "bare_tracker_ms_p50": bare_ms,
        "note": "node stage figures are the node's last 100 frames (its /diagnostics window)",
    }
    print(f"{sent} pairs at {options.rate:g} Hz {width}x{height}: {len(received)} detections "
          f"({result['processed_hz']:.1f} Hz), {result['pairs_dropped']} pairs dropped; stamp-to-detection "
          f"p50 {result['stamp_to_detection_ms']['p50']:.1f} ms, p95 {result['stamp_to_detection_ms']['p95']:.1f} ms")
    print(f"{'stage':<14}{'p50 ms':>9}{'p95 ms':>9}")
    for name, (p50, p95) in stages.items():
        print(f"{name:<14}{p50:>9.2f}{p95:>9.2f}")
    print(f"{'bare tracker':<14}{bare_ms:>9.2f}{'':>9}  (tracker.track alone, this process, same frames)")
    if options.json:
        write_text_atomic(options.json, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

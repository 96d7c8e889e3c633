"""Diagnostics content (no ROS): pipeline counters and latency, tracker state, modality health, device."""
from __future__ import annotations

import numpy as np
import pytest

from rgbt_tracker_ros.node.diagnostics import (
    EventRate,
    HealthThresholds,
    ImageHealth,
    Level,
    PipelineStats,
    Window,
    cuda_memory,
    device_record,
    image_health,
    modality_record,
    tracker_record,
)

THRESHOLDS = HealthThresholds(latency_warn_s=0.2, latency_error_s=1.0)


def test_window_summary_matches_hand_computed_percentiles():
    window = Window(size=4)
    for value in (9.0, 1.0, 2.0, 3.0, 4.0):  # 9 falls out of the window
        window.add(value)
    summary = window.summary()
    assert summary["mean"] == 2.5 and summary["max"] == 4.0 and summary["p50"] == 2.5
    assert summary["p95"] == pytest.approx(3.85)
    assert Window().summary() == {}


def test_event_rate_from_given_times():
    rate = EventRate(size=10)
    assert rate.rate() == 0.0
    for t in (0.0, 0.1, 0.2, 0.3, 0.4):
        rate.tick(t)
    assert rate.rate() == pytest.approx(10.0)


def test_pipeline_record_counts_drops_and_latency():
    stats = PipelineStats()
    for _ in range(5):
        stats.count_input("rgb")
    stats.count_input("thermal")
    stats.set_pair_counts(received=5, dropped=3)
    for i, latency in enumerate((0.05, 0.06, 0.07)):
        stats.count_processed(latency, 0.04, now=i * 0.5)
    record = stats.record(THRESHOLDS)
    assert record.level == Level.OK
    assert record.values["rgb messages"] == "5" and record.values["thermal messages"] == "1"
    assert record.values["pairs dropped (newest-pair policy)"] == "3"
    assert record.values["pairs processed"] == "3"
    assert record.values["processing rate (Hz)"] == "2.00"
    assert float(record.values["latency max (s)"]) == pytest.approx(0.07)
    assert float(record.values["inference mean (s)"]) == pytest.approx(0.04)


def test_pipeline_record_levels_for_latency_and_bad_messages():
    stats = PipelineStats()
    stats.count_processed(0.5, 0.1)
    record = stats.record(THRESHOLDS)
    assert record.level == Level.WARN and "latency" in record.message
    stats.count_processed(5.0, 0.1)
    stats.count_processed(5.0, 0.1)
    assert stats.record(THRESHOLDS).level == Level.ERROR
    fresh = PipelineStats()
    assert fresh.record(THRESHOLDS).level == Level.OK
    fresh.count_bad("thermal: unsupported image encoding 'yuv422'")
    record = fresh.record(THRESHOLDS)
    assert record.level == Level.WARN and "yuv422" in record.message and record.values["bad messages"] == "1"
    # bad messages warn once, in the next report only; the total stays
    record = fresh.record(THRESHOLDS)
    assert record.level == Level.OK and record.values["bad messages"] == "1"


@pytest.mark.parametrize(
    "args, level, fragment",
    [
        ((False, True, False, "", None, None), Level.OK, "inactive"),
        ((True, False, True, "2", "tracking", 0.9), Level.OK, "disabled"),
        ((True, True, False, "", None, None), Level.WARN, "~/init"),
        ((True, True, True, "2", "tracking", 0.9), Level.OK, "tracking id 2"),
        ((True, True, True, "2", "lost", 0.1), Level.WARN, "lost"),
    ],
)
def test_tracker_record(args, level, fragment):
    record = tracker_record(*args)
    assert record.level == level and fragment in record.message


def test_tracker_record_reports_a_failed_transition_as_error():
    record = tracker_record(False, True, False, "", None, None, "inactive", "activate failed: no such checkpoint")
    assert record.level == Level.ERROR and record.message == "activate failed: no such checkpoint"
    assert record.values["lifecycle state"] == "inactive"
    assert tracker_record(True, True, False, "", None, None, "active", "").level == Level.WARN


def test_pipeline_record_reports_node_stages_in_milliseconds():
    stats = PipelineStats()
    for seconds in (0.001, 0.002, 0.003):
        stats.add_stage("decode", seconds)
    stats.add_stage("inference", 0.05)
    assert set(stats.stage_summary()) == {"decode", "inference"}
    assert stats.stage_summary()["decode"]["p50"] == pytest.approx(0.002)
    values = stats.record(HealthThresholds()).values
    assert values["stage decode p50 / p95 (ms)"] == "2.00 / 2.90"
    assert "stage publish p50 / p95 (ms)" not in values
    with pytest.raises(KeyError):
        stats.add_stage("no such stage", 1.0)


def test_image_health_dark_rgb_and_flat_thermal():
    rgb = np.zeros((40, 40, 3), np.uint8)
    rgb[..., 0] = 10  # luma 0.299 * 10 = 2.99
    thermal = np.full((40, 40), 3000, np.uint16)
    thermal[:20] = 3010  # a 10-count spread: flat for a radiometric camera
    health = image_health(rgb, thermal)
    assert health.rgb_mean == pytest.approx(2.99, abs=1e-3)
    assert health.thermal_spread == pytest.approx(10.0)
    record = modality_record(health, HealthThresholds())
    assert record.level == Level.WARN
    assert "RGB image dark" in record.message and "thermal image flat" in record.message


def test_modality_record_ok_and_dtype_specific_flat_threshold():
    good = ImageHealth(rgb_mean=120.0, thermal_spread=30.0, thermal_dtype="uint8")
    assert modality_record(good, HealthThresholds()).level == Level.OK  # 30 >= 8 grey levels
    radiometric = ImageHealth(rgb_mean=120.0, thermal_spread=30.0, thermal_dtype="uint16")
    assert modality_record(radiometric, HealthThresholds()).level == Level.WARN  # 30 < 64 counts
    assert modality_record(radiometric, HealthThresholds(flat_thermal_spread=10.0)).level == Level.OK
    bright = ImageHealth(rgb_mean=250.0, thermal_spread=30.0, thermal_dtype="uint8")
    assert "over-exposed" in modality_record(bright, HealthThresholds()).message
    assert modality_record(None, HealthThresholds()).message == "no frame yet"


def test_device_record_warns_on_cpu_fallback_and_full_gpu():
    assert device_record(None, "auto", False, THRESHOLDS).message == "model not loaded"
    assert device_record("cpu", "cpu", False, THRESHOLDS).level == Level.OK
    assert device_record("cpu", "cpu", False, THRESHOLDS, backend="onnxruntime").values["backend"] == "onnxruntime"
    fallback = device_record("cpu", "auto", False, THRESHOLDS)
    assert fallback.level == Level.WARN and "CPU" in fallback.message
    memory = {"allocated": 3 * 2**30, "reserved": 7.5 * 2**30, "total": 8 * 2**30}
    full = device_record("cuda:0", "auto", True, THRESHOLDS, memory)
    assert full.level == Level.WARN and "94%" in full.message
    assert full.values["cuda reserved (MiB)"] == "7680.0" and full.values["fp16"] == "True"
    assert cuda_memory("cpu") is None

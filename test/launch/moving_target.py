"""A tiny RGB-T scene for the launch tests: a textured target moving right over a noisy background.

ROS-free (numpy only); the launch tests turn the frames into sensor_msgs/Image messages.
"""
from __future__ import annotations

import numpy as np

WIDTH, HEIGHT = 160, 120
TARGET_SIZE = 24
START_X, Y, SPEED = 30.0, 48.0, 1.5


def target_box(index: int) -> list[float]:
    """True ``[x, y, w, h]`` of the target in frame ``index``."""
    return [START_X + SPEED * index, Y, float(TARGET_SIZE), float(TARGET_SIZE)]


def frame(index: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(rgb HxWx3 uint8, thermal HxW uint16)`` of frame ``index``: the target is a bright checker
    pattern in RGB and a hot square (radiometric-like counts) in thermal."""
    rng = np.random.default_rng(seed + index)
    rgb = rng.integers(20, 60, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    thermal = rng.integers(3000, 3100, (HEIGHT, WIDTH), dtype=np.uint16)
    x, y, w, h = (int(round(v)) for v in target_box(index))
    checker = (np.add.outer(np.arange(h) // 4, np.arange(w) // 4) % 2).astype(np.uint8)
    rgb[y:y + h, x:x + w] = np.stack([200 + 50 * checker, 120 * checker, 40 + 0 * checker], axis=2)
    thermal[y:y + h, x:x + w] = 6000
    return rgb, thermal

"""Fixtures shared by the test modules."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest


@pytest.fixture
def one_thread() -> Iterator[None]:
    """torch on one thread for the test (training results depend on the thread count), restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory) -> Path:
    """Two short synthetic sequences (24 frames, 128x96) written in the LasHeR layout: training data."""
    from rgbt_tracker_ros.data.synthetic import make_specs
    from rgbt_tracker_ros.data.writers import write_lasher

    root = tmp_path_factory.mktemp("synthetic")
    for spec in make_specs(2, seed=0, frames=24, size=(128, 96)):
        write_lasher(spec, root / spec.name)
    return root

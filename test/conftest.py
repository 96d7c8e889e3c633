"""Fixtures shared by the test modules."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, Iterator

import pytest

_CALL_PASSED = pytest.StashKey[bool]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Remember whether the test body passed, for `_passed_tests_leave_no_tmp_path`."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[_CALL_PASSED] = report.passed


@pytest.fixture(autouse=True)
def _passed_tests_leave_no_tmp_path(request: pytest.FixtureRequest) -> Iterator[None]:
    """Delete a passed test's `tmp_path`; a failed one's stays for a look. The suite writes about 3 GB of
    checkpoints and bags, and pytest keeps its last three runs' folders (pytest 7.2, ROS's, has no retention
    setting): a full disk once failed a CI run."""
    yield
    tmp_path = request.node.funcargs.get("tmp_path")
    if tmp_path is not None and request.node.stash.get(_CALL_PASSED, False):
        shutil.rmtree(tmp_path, ignore_errors=True)


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


@pytest.fixture(scope="module")
def ainet_path(tmp_path_factory) -> Path:
    """An ainet-tiny checkpoint from random weights (seed 0): a distillation teacher or a tracker."""
    import torch

    from rgbt_tracker_ros.networks.checkpoint import save_checkpoint
    from rgbt_tracker_ros.networks.config import build_model, load_config

    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("ainet") / "ainet.pt", build_model(load_config("ainet-tiny")))


@pytest.fixture
def small_distill_settings() -> Callable:
    """cmd-synthetic-cpu (every term, paper weights) shrunk to 2 epochs x 1 step of 2 samples, 2 train + 1 test
    frames; keyword arguments replace further fields."""
    from dataclasses import replace

    from rgbt_tracker_ros.training.settings import load_settings

    def make(**changes):
        settings = load_settings("cmd-synthetic-cpu")
        sampler = replace(settings.sampler, num_train_frames=2, num_test_frames=1)
        return settings.replace(**{"epochs": 2, "samples_per_epoch": 2, "batch_size": 2, "sampler": sampler,
                                   **changes})

    return make

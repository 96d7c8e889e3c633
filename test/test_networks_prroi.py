"""Exact PrRoIPool (pytracking's convention) against brute-force integrals and finite differences; its
half-cell offset from the legacy pooling; the ``roi_pool`` config field and old checkpoints."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.networks.checkpoint import load_checkpoint, save_checkpoint
from rgbt_tracker_ros.networks.config import build_model, load_config
from rgbt_tracker_ros.networks.roi_pool import PrRoIPool2D, prroi_pool2d

torch.set_num_threads(1)


def _interpolant(feat: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """PrRoIPool's feature at continuous (y, x): bilinear between cells at integer positions, 0 outside."""
    height, width = feat.shape
    ky = np.maximum(0.0, 1.0 - np.abs(y[:, None] - np.arange(height)))  # (n, H)
    kx = np.maximum(0.0, 1.0 - np.abs(x[:, None] - np.arange(width)))  # (m, W)
    return ky @ feat @ kx.T  # (n, m)


def _brute_force(feat: np.ndarray, box_xywh, scale: float, size: int, samples: int = 400) -> np.ndarray:
    """Mean of the interpolant over each bin by the midpoint rule on ``samples x samples`` points."""
    x0, y0 = box_xywh[0] * scale, box_xywh[1] * scale
    bw, bh = box_xywh[2] * scale / size, box_xywh[3] * scale / size
    out = np.zeros((size, size))
    offsets = (np.arange(samples) + 0.5) / samples
    for i in range(size):
        for j in range(size):
            out[i, j] = _interpolant(feat, y0 + (i + offsets) * bh, x0 + (j + offsets) * bw).mean()
    return out


def test_matches_a_brute_force_integral_of_the_bilinear_interpolant():
    torch.manual_seed(0)
    feat = torch.randn(2, 3, 9, 11, dtype=torch.float64)
    # x, y, w, h in image pixels at stride 8: inside, straddling the left/top border, past the far edge.
    boxes = torch.tensor([[[13.0, 21.0, 40.0, 27.0], [-12.0, -5.0, 30.0, 50.0]],
                          [[60.0, 50.0, 40.0, 30.0], [3.3, 7.9, 9.1, 5.2]]], dtype=torch.float64)
    out = prroi_pool2d(feat, boxes, 3, 1 / 8)
    assert out.shape == (4, 3, 3, 3)
    errors = []
    for b in range(2):
        for p in range(2):
            for c in range(3):
                brute = _brute_force(feat[b, c].numpy(), boxes[b, p].tolist(), 1 / 8, 3)
                errors.append(np.abs(out[b * 2 + p, c].numpy() - brute).max())
    print(f"exact PrRoIPool vs brute-force integral (400x400 midpoints per bin): max abs error {max(errors):.2e}")
    assert max(errors) < 1e-4


def test_pins_pytracking_coordinates_and_zero_padding():
    # All-ones 4x4 map: the interpolant is 1 on [0, 3] and ramps to 0 over [3, 4] and [-1, 0].
    feat = torch.ones(1, 1, 4, 4)
    pool = PrRoIPool2D(1, 1.0, mode="prroi")
    inside = pool(feat, torch.tensor([[0.0, 0.0, 3.0, 3.0]]))
    ramp_x = pool(feat, torch.tensor([[3.0, 1.0, 1.0, 1.0]]))  # x in [3, 4]: mean 1/2
    corner = pool(feat, torch.tensor([[-1.0, -1.0, 1.0, 1.0]]))  # both ramps: mean 1/4
    half_cell = pool(feat, torch.tensor([[2.5, 2.5, 1.0, 1.0]]))  # [2.5, 3.5]^2: (1 - 1/8)^2
    torch.testing.assert_close(torch.cat([inside, ramp_x, corner, half_cell]).flatten(),
                               torch.tensor([1.0, 0.5, 0.25, (7 / 8) ** 2]))
    # An empty box pools to zero, as PrRoIPool's win_size == 0 branch.
    assert pool(feat, torch.tensor([[1.0, 1.0, 0.0, 2.0]])).abs().max() == 0


def test_legacy_pooling_sits_half_a_cell_away():
    torch.manual_seed(1)
    feat = torch.randn(1, 4, 12, 12, dtype=torch.float64)
    scale = 1 / 16
    box = torch.tensor([[[40.0, 52.0, 70.0, 61.0]]], dtype=torch.float64)
    legacy = PrRoIPool2D(3, scale, mode="legacy", sampling_ratio=64)(feat, box)
    shifted = prroi_pool2d(feat, box - torch.tensor([0.5 / scale, 0.5 / scale, 0.0, 0.0], dtype=torch.float64), 3, scale)
    same_box = prroi_pool2d(feat, box, 3, scale)
    shift_error = (legacy - shifted).abs().max().item()
    print(f"legacy (64x64 samples/bin) vs PrRoIPool of the box moved by -half a cell (8 px): max abs "
          f"difference {shift_error:.1e}; vs the same box: {(legacy - same_box).abs().max().item():.2f}")
    assert shift_error < 2e-3
    assert (legacy - same_box).abs().max() > 0.1


def test_gradient_in_the_box_matches_finite_differences():
    torch.manual_seed(2)
    feat = torch.randn(2, 3, 10, 10, dtype=torch.float64)
    boxes = torch.tensor([[[13.3, 17.1, 30.2, 22.7]], [[-6.4, 40.6, 33.1, 41.9]]], dtype=torch.float64)
    weights = torch.randn(2, 3, 2, 2, dtype=torch.float64)

    def objective(b: torch.Tensor) -> torch.Tensor:
        return (prroi_pool2d(feat, b, 2, 1 / 8) * weights).sum()

    var = boxes.clone().requires_grad_(True)
    (analytic,) = torch.autograd.grad(objective(var), var)
    numeric = torch.zeros_like(boxes)
    eps = 1e-5
    for index in np.ndindex(*boxes.shape):
        step = torch.zeros_like(boxes)
        step[index] = eps
        numeric[index] = (objective(boxes + step) - objective(boxes - step)) / (2 * eps)
    error = ((analytic - numeric).abs().max() / numeric.abs().max()).item()
    print(f"d PrRoIPool / d box (float64) vs central differences: max relative error {error:.1e}")
    assert error < 1e-7
    torch.autograd.gradcheck(lambda b: prroi_pool2d(feat, b, 2, 1 / 8), (var,))


def test_gradient_in_the_features():
    torch.manual_seed(3)
    feat = torch.randn(1, 2, 6, 7, dtype=torch.float64, requires_grad=True)
    boxes = torch.tensor([[[3.0, 5.0, 30.0, 17.0], [-10.0, 9.0, 25.0, 40.0]]], dtype=torch.float64)
    torch.autograd.gradcheck(lambda f: prroi_pool2d(f, boxes, 3, 1 / 4), (feat,))


def test_mode_choice_and_its_errors():
    assert PrRoIPool2D(3, 1 / 8).mode == "legacy"
    with pytest.raises(InputError, match="sampling_ratio belongs to legacy"):
        PrRoIPool2D(3, 1 / 8, mode="prroi", sampling_ratio=2)
    with pytest.raises(InputError, match="RoI pooling mode"):
        PrRoIPool2D(3, 1 / 8, mode="roi_align")
    with pytest.raises(InputError, match="roi_pool must be one of"):
        load_config("student-tiny", roi_pool="bilinear")


@pytest.mark.parametrize("name, pool", [("student-tiny", "legacy"), ("teacher-tiny", "legacy"),
                                        ("student-r18", "legacy"), ("teacher-r50", "legacy"),
                                        ("student-dimp18", "prroi"), ("teacher-dimp50", "prroi")])
def test_bundled_configs_name_their_pooling(name, pool):
    config = load_config(name)
    assert config.roi_pool == pool
    if name.endswith("dimp18"):
        assert load_config("student-r18").architecture_differences(config) == ["roi_pool ('legacy' vs 'prroi')"]
    if name.endswith("dimp50"):
        assert load_config("teacher-r50").architecture_differences(config) == ["roi_pool ('legacy' vs 'prroi')"]


def test_the_config_reaches_every_pooling_layer():
    model = build_model(load_config("student-tiny", roi_pool="prroi"), pretrained="none")
    pools = [m for m in model.modules() if isinstance(m, PrRoIPool2D)]
    assert len(pools) == 5 and {p.mode for p in pools} == {"prroi"}  # filter initializer + 4 in IoU-Net


def test_a_checkpoint_without_the_field_keeps_the_legacy_pooling(tmp_path):
    torch.manual_seed(0)
    model = build_model("student-tiny", pretrained="none")
    path = save_checkpoint(tmp_path / "new.pt", model)
    payload = torch.load(path, weights_only=True)
    del payload["config"]["roi_pool"]  # as stored before the field existed
    old = tmp_path / "old.pt"
    torch.save(payload, old)
    loaded, meta = load_checkpoint(old, config="student-tiny")
    assert meta["config"].roi_pool == "legacy"
    assert {m.mode for m in loaded.modules() if isinstance(m, PrRoIPool2D)} == {"legacy"}

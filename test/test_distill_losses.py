"""CMD's distillation losses (distill/*) on tiny tensors, with the values worked out by hand."""
from __future__ import annotations

import pytest
import torch

from rgbt_tracker_ros.distill.abf import ABFChain, resize_map
from rgbt_tracker_ros.distill.hfrd import corrected_response, hfrd_loss
from rgbt_tracker_ros.distill.mpsd import FusionAdapter, mpsd_loss
from rgbt_tracker_ros.distill.scfd import SCFDHead, cem, scfd_fit, scfd_loss, scfd_targets, sem


def scalar_map(*values: float) -> torch.Tensor:
    """``(N, 1, 1, 1)``: one 1x1 single-channel feature per frame."""
    return torch.tensor(values).reshape(-1, 1, 1, 1)


def test_sem_and_cem_by_hand():
    f_rgb, f_tir = torch.tensor([2.0, 3.0]), torch.tensor([1.0, -1.0])
    fe_rgb, fe_tir = sem(f_rgb, f_tir)
    assert fe_rgb.tolist() == [3.0, 1.0]  # 2*1 + (2-1), 3*(-1) + (3+1)
    assert fe_tir.tolist() == [1.0, -7.0]  # 2*1 + (1-2), 3*(-1) + (-1-3)
    assert cem(f_rgb, f_tir).tolist() == [5.0, -1.0]  # 2 + 3, -3 + 2


def test_scfd_targets_use_sem_on_levels_1_to_3_and_cem_on_level_4_and_sum_the_mses():
    rgb = {"stem": scalar_map(2.0), "layer1": scalar_map(0.0), "layer2": scalar_map(-1.0), "layer3": scalar_map(3.0)}
    tir = {"stem": scalar_map(1.0), "layer1": scalar_map(3.0), "layer2": scalar_map(2.0), "layer3": scalar_map(-1.0)}
    targets = scfd_targets(rgb, tir)
    assert [float(t) for t in targets["rgb"]] == [3.0, -3.0, -5.0, -1.0]  # SEM x3, then fc4 = -3 + 2
    assert [float(t) for t in targets["tir"]] == [1.0, 3.0, 1.0, -1.0]  # SEM (TIR side) x3, the same fc4
    ones = {modality: [scalar_map(1.0)] * 4 for modality in ("rgb", "tir")}
    # RGB: 2^2 + 4^2 + 6^2 + 2^2 = 60; TIR: 0 + 2^2 + 0 + 2^2 = 8 (Eq. 3: L_spe + L_com).
    assert float(scfd_loss(ones, targets)) == pytest.approx(68.0)


def test_scfd_fit_by_hand():
    # One channel, two frames of one pixel, per level: target (1, 3) has mean 2 and variance 1.
    target = torch.tensor([1.0, 3.0]).reshape(2, 1, 1, 1)
    exact, constant, off = target.clone(), torch.full_like(target, 2.0), torch.tensor([3.0, 1.0]).reshape(2, 1, 1, 1)
    flat = torch.tensor([5.0, 5.0]).reshape(2, 1, 1, 1)
    fit = scfd_fit({"rgb": [exact, constant, off, target], "tir": [flat] * 4},
                   {"rgb": [target] * 4, "tir": [target, target, target, torch.zeros_like(target)]})
    assert [fit["rgb"][level]["explained"] for level in ("stem", "layer1", "layer2")] == [1.0, 0.0, -3.0]
    assert fit["rgb"]["layer2"]["mse"] == 4.0 and fit["rgb"]["layer2"]["variance"] == 1.0
    assert fit["tir"]["stem"] == {"mse": 10.0, "variance": 1.0, "explained": -9.0}  # (4^2 + 2^2) / 2
    assert fit["tir"]["layer3"]["explained"] is None  # a constant target: no variance to explain


def test_abf_chain_runs_deepest_first_to_the_teacher_widths_and_sizes():
    torch.manual_seed(0)
    chain = ABFChain([2, 3, 4, 5], [6, 7, 8, 9]).eval()
    assert chain.stages[-1].att_conv is None and all(s.att_conv is not None for s in chain.stages[:-1])
    assert chain.stages[0].conv1[0].out_channels == 5  # mid = min(512, deepest student width)
    features = [torch.randn(2, c, s, s) for c, s in zip((2, 3, 4, 5), (16, 8, 4, 2))]
    sizes = [(16, 16), (8, 8), (4, 4), (3, 3)]  # the deepest resized to the teacher's 3x3
    outputs = chain(features, sizes)
    assert [tuple(o.shape) for o in outputs] == [(2, 6, 16, 16), (2, 7, 8, 8), (2, 8, 4, 4), (2, 9, 3, 3)]
    # The deepest stage sees only its own level; each shallower one also the residual from below.
    changed_shallow = chain([features[0] + 1.0, *features[1:]], sizes)
    assert torch.equal(changed_shallow[3], outputs[3]) and not torch.equal(changed_shallow[0], outputs[0])
    changed_deep = chain([*features[:3], features[3] + 1.0], sizes)
    assert not torch.equal(changed_deep[0], outputs[0])
    head = SCFDHead({"stem": 2, "layer1": 3, "layer2": 4, "layer3": 5},
                    {"stem": 6, "layer1": 7, "layer2": 8, "layer3": 9})
    assert set(head.chains) == {"rgb", "tir"} and head.chains["rgb"] is not head.chains["tir"]
    # A narrower inner width (distill.abf_channels) changes the stages' width only, not what they output.
    narrow = SCFDHead({"stem": 2, "layer1": 3, "layer2": 4, "layer3": 5},
                      {"stem": 6, "layer1": 7, "layer2": 8, "layer3": 9}, mid_channels=3)
    assert all(s.conv1[0].out_channels == 3 and s.conv2[0].in_channels == 3 for s in narrow.chains["tir"].stages)
    assert [tuple(o.shape) for o in narrow.chains["rgb"](features, sizes)] == [tuple(o.shape) for o in outputs]


def mpsd_example() -> dict:
    """Two frames, 1x1x1 features; per level: teacher, the three initial fusions, the path weights."""
    cases = {
        # frame 0: path MSEs [0.25, 1, 0.36] -> lambda 0 (sa); weights -> nu 1 (mul): |0.25*0.5 - 0.25*0.2| = 0.075
        # frame 1: path MSEs [1, 0.25, 9] -> lambda 1 = nu 1: penalty 0
        "layer2": ([1.0, 0.0], [[0.5, 2.0, 1.6], [1.0, -0.5, 3.0]], [[0.2, 0.5, 0.3], [0.1, 0.6, 0.3]]),
        # frame 0: MSEs [1, 4, 9] -> lambda 0, nu 2: |1*0.7 - 1*0.1| = 0.6
        # frame 1: MSEs [4, 0.25, 1] -> lambda 1, nu 0: 0.25*(0.5 - 0.3) = 0.05
        "layer3": ([0.0, 0.0], [[1.0, 2.0, 3.0], [-2.0, 0.5, 1.0]], [[0.1, 0.2, 0.7], [0.5, 0.3, 0.2]]),
    }
    example = {"teacher": {}, "initial": {}, "weights": {}, "fused": {}}
    for level, (teacher, initial, weights) in cases.items():
        example["teacher"][level] = scalar_map(*teacher)
        example["initial"][level] = torch.tensor(initial).reshape(2, 3, 1, 1, 1)
        example["weights"][level] = torch.tensor(weights, requires_grad=True)
        broadcast = example["weights"][level].detach()[:, :, None, None, None]
        example["fused"][level] = (example["initial"][level] * broadcast).sum(1)  # Eq. 6
    return example


def test_mpsd_selects_lambda_and_nu_and_sums_eq_7_to_11_by_hand():
    ex = mpsd_example()
    loss = mpsd_loss(ex["teacher"], ex["fused"], ex["initial"], ex["weights"])
    assert loss.selected["layer2"].tolist() == [0, 1] and loss.predicted["layer2"].tolist() == [1, 1]
    assert loss.selected["layer3"].tolist() == [0, 1] and loss.predicted["layer3"].tolist() == [2, 0]
    # Eq. 7: fused 1.58 / 0.7 against 1 / 0 -> (0.3364 + 0.49) / 2; fused 2.6 / -0.65 against 0 -> (6.76 + 0.4225) / 2
    assert loss.fus.item() == pytest.approx(0.4132 + 3.59125)
    assert loss.penalty.item() == pytest.approx((0.075 + 0.0) / 2 + (0.6 + 0.05) / 2)  # Eq. 10, frames' mean
    assert loss.total.item() == pytest.approx(4.00445 + 0.3625)  # Eq. 11
    # Nothing is detached: dL_p/dw_nu = +L_lambda / N, dL_p/dw_lambda = -L_lambda / N, other paths 0.
    loss.penalty.backward()
    torch.testing.assert_close(ex["weights"]["layer2"].grad, torch.tensor([[-0.125, 0.125, 0.0], [0.0, 0.0, 0.0]]))
    torch.testing.assert_close(ex["weights"]["layer3"].grad, torch.tensor([[-0.5, 0.0, 0.5], [0.125, -0.125, 0.0]]))


def test_mpsd_penalty_vanishes_where_the_student_picks_the_teachers_path():
    ex = mpsd_example()
    # lambda is [0, 1] on both levels; weights whose argmax is the same path in each frame.
    agreeing = {level: torch.tensor([[0.9, 0.05, 0.05], [0.05, 0.9, 0.05]]) for level in ex["weights"]}
    loss = mpsd_loss(ex["teacher"], ex["fused"], ex["initial"], agreeing)
    assert float(loss.penalty) == 0.0
    assert all(torch.equal(loss.selected[level], loss.predicted[level]) for level in agreeing)


def test_fusion_adapter_is_the_identity_at_equal_widths_and_sizes_and_affine_otherwise():
    adapter = FusionAdapter({"layer2": 2, "layer3": 4}, {"layer2": 2, "layer3": 8})
    assert set(adapter.convs) == {"layer3"}
    features = torch.randn(3, 2, 5, 5)
    assert adapter("layer2", features, (5, 5)) is features
    paths = torch.randn(3, 3, 4, 6, 6)
    weights = torch.softmax(torch.randn(3, 3), dim=1)[:, :, None, None, None]
    for size in ((6, 6), (3, 3), (12, 12)):  # a CMD teacher's size; an AINet teacher's coarser or finer token grid
        mapped = adapter("layer3", paths, size)
        assert mapped.shape == (3, 3, 8, *size)
        # adapt(sum_n w_n f_n) = sum_n w_n adapt(f_n): the paths stay comparable to the fused feature.
        torch.testing.assert_close(adapter("layer3", (paths * weights).sum(1), size), (mapped * weights).sum(1))


def test_resize_map_means_when_shrinking_and_repeats_when_growing():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert resize_map(x, (4, 4)) is x
    torch.testing.assert_close(resize_map(x, (2, 2)), torch.tensor([[[[2.5, 4.5], [10.5, 12.5]]]]))
    torch.testing.assert_close(resize_map(x, (8, 8)), x.repeat_interleave(2, 2).repeat_interleave(2, 3))


def test_corrected_response_takes_both_branches_of_eq_12():
    teacher = torch.tensor([0.2, 0.9, -0.5, 0.4])
    label = torch.tensor([0.5, 0.3, 1.0, 0.6])
    # sums 0.7 (< 1: kept), 1.2 (>= 1: the label), 0.5 (< 1: kept), exactly 1.0 (>= 1: the label)
    assert corrected_response(teacher, label).tolist() == pytest.approx([0.7, 0.3, 0.5, 0.6])


def test_hfrd_loss_by_hand_and_only_the_student_gets_a_gradient():
    student = torch.tensor([1.0, 2.0, 0.0], requires_grad=True)
    teacher = torch.tensor([0.2, 0.9, -0.5], requires_grad=True)
    label = torch.tensor([0.5, 0.3, 1.0])
    loss = hfrd_loss(student, teacher, label)
    # R_c = [0.7, 0.3, 0.5]; R_s * R_c - R_g = [0.2, 0.3, -1.0]
    assert loss.item() == pytest.approx((0.04 + 0.09 + 1.0) / 3)
    loss.backward()
    assert student.grad.tolist() == pytest.approx([2 * 0.2 * 0.7 / 3, 2 * 0.3 * 0.3 / 3, 2 * -1.0 * 0.5 / 3])
    assert teacher.grad is None
    with pytest.raises(ValueError, match="equal response shapes"):
        hfrd_loss(student, teacher[:2], label)

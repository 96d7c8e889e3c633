"""Unit tests of the network building blocks: fusion, DiMP classifier pieces, IoU-Net, losses."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rgbt_tracker_ros.networks.classifier import FilterInitializerLinear, InstanceL2Norm, classification_feature_block
from rgbt_tracker_ros.networks.filter_ops import apply_feat_transpose, apply_filter
from rgbt_tracker_ros.networks.fusion import FRS, MDC, MPSD, MDCFRSFusion
from rgbt_tracker_ros.networks.iou_net import AtomIoUNet
from rgbt_tracker_ros.networks.losses import LBHinge, iou_loss
from rgbt_tracker_ros.networks.optimizer import DiMPSteepestDescentGN, DistanceMap
from rgbt_tracker_ros.networks.roi_pool import PrRoIPool2D

torch.set_num_threads(1)


def assert_all_grads(module: torch.nn.Module) -> None:
    for name, p in module.named_parameters():
        assert p.grad is not None, f"no gradient for {name}"
        assert torch.isfinite(p.grad).all(), f"non-finite gradient for {name}"


# --------------------------------------------------------------------------- fusion
def test_mpsd_initial_fusions_weights_and_gradients():
    torch.manual_seed(0)
    mpsd = MPSD(channels=8)
    f_rgb, f_tir = torch.randn(2, 8, 5, 5), torch.randn(2, 8, 5, 5)
    out = mpsd(f_rgb, f_tir)
    assert out.fused.shape == (2, 8, 5, 5)
    assert out.initial_fusions.shape == (2, 3, 8, 5, 5)
    assert out.path_weights.shape == (2, 3)
    torch.testing.assert_close(out.path_weights.sum(dim=1), torch.ones(2))  # softmax of Eq. 6
    torch.testing.assert_close(out.initial_fusions[:, 1], f_rgb * f_tir)  # Eq. 4, product path
    torch.testing.assert_close(out.initial_fusions[:, 2], f_rgb - f_tir)  # Eq. 4, difference path
    expected = sum(out.initial_fusions[:, k] * out.path_weights[:, k, None, None, None] for k in range(3))
    torch.testing.assert_close(out.fused, expected)  # Eq. 6, weighted sum
    out.fused.square().sum().backward()
    assert_all_grads(mpsd)


def test_mpsd_path_weights_by_hand_and_the_layernorm_descriptor_ignores_scale():
    torch.manual_seed(0)
    raw, normalised = MPSD(channels=4), MPSD(channels=4, descriptor="layernorm")
    normalised.load_state_dict(raw.state_dict())  # LayerNorm without parameters: the same weights fit both
    f_rgb, f_tir = torch.randn(2, 4, 3, 3), torch.randn(2, 4, 3, 3)
    initial = raw(f_rgb, f_tir).initial_fusions
    pooled = initial.amax(dim=(-2, -1)).flatten(1)  # gmp(cat(f1, f2, f3))
    torch.testing.assert_close(raw(f_rgb, f_tir).path_weights, torch.softmax(raw.path_fc(pooled), dim=1))  # Eq. 6
    standardised = (pooled - pooled.mean(1, keepdim=True)) / torch.sqrt(pooled.var(1, unbiased=False, keepdim=True)
                                                                        + 1e-5)
    torch.testing.assert_close(normalised(f_rgb, f_tir).path_weights,
                               torch.softmax(raw.path_fc(standardised), dim=1))
    # The descriptor's scale no longer reaches the logits: the same weights for 10x the pooled values.
    torch.testing.assert_close(normalised.path_fc(normalised.descriptor_norm(10 * pooled)),
                               normalised.path_fc(normalised.descriptor_norm(pooled)), rtol=1e-4, atol=1e-4)
    assert not torch.allclose(raw.path_fc(10 * pooled), raw.path_fc(pooled))


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
def test_mpsd_spatial_attention_hand_computed(activation):
    mpsd = MPSD(channels=4, sa_activation=activation)
    f_rgb, f_tir = torch.randn(1, 4, 3, 3), torch.randn(1, 4, 3, 3)
    with torch.no_grad():
        mpsd.sa_conv.weight.zero_()
        mpsd.sa_conv.bias.copy_(torch.tensor([math.log(3.0), 0.0]))  # logits (ln 3, 0)
    w_rgb, w_tir = (0.75, 0.25) if activation == "softmax" else (0.75, 0.5)  # softmax: 3/(3+1); sigmoid(ln 3) = 3/4
    torch.testing.assert_close(mpsd.spatial_attention(f_rgb, f_tir), w_rgb * f_rgb + w_tir * f_tir)


def test_mdc_frs_fusion_shapes_weights_and_gradients():
    torch.manual_seed(0)
    fusion = MDCFRSFusion(channels=16, mdc_reduction=4, frs_reduction=4)
    f_rgb, f_tir = torch.randn(3, 16, 6, 6), torch.randn(3, 16, 6, 6)
    out = fusion(f_rgb, f_tir)
    assert out.fused.shape == (3, 16, 6, 6) and out.initial_fusions is None
    torch.testing.assert_close(out.path_weights.sum(dim=1), torch.ones(3))
    attention = fusion.mdc.difference_attention(f_rgb, f_tir)
    assert attention.shape == (3, 16, 6, 6) and 0 <= attention.min() and attention.max() <= 1
    out.fused.square().sum().backward()
    assert_all_grads(fusion)


def test_frs_selects_the_favoured_candidate():
    frs = FRS(channels=4, reduction=1)
    with torch.no_grad():
        frs.select.weight.zero_()
        frs.select.bias.copy_(torch.tensor([0.0] * 4 + [30.0] * 4 + [0.0] * 4))  # favour candidate 1 (tir)
    candidates = torch.randn(2, 3, 4, 5, 5)
    fused, weights = frs(candidates)
    torch.testing.assert_close(fused, candidates[:, 1], atol=1e-5, rtol=0)
    assert weights.shape == (2, 3, 4) and torch.all(weights[:, 1] > 0.999)


def test_mdc_output_shape_and_difference_drives_attention():
    mdc = MDC(channels=8, reduction=2)
    f = torch.randn(2, 8, 4, 4)
    assert mdc(f, f.clone()).shape == (2, 8, 4, 4)
    with torch.no_grad():  # with identical modalities the spatial map sees |d| = 0 everywhere
        mdc.spatial_conv.bias.fill_(0.0)
        att = mdc.difference_attention(f, f)
    channel_part = att / torch.sigmoid(torch.zeros(()))  # spatial factor is sigmoid(0) = 0.5
    assert torch.allclose(channel_part, channel_part[..., :1, :1].expand_as(channel_part))


# --------------------------------------------------------------------------- RoI pooling
def _bilinear(feat: np.ndarray, y: float, x: float) -> float:
    """Hand-written bilinear interpolation (feature cell i at continuous position i)."""
    h, w = feat.shape
    y, x = min(max(y, 0.0), h - 1.0), min(max(x, 0.0), w - 1.0)
    y0, x0 = min(int(np.floor(y)), h - 2), min(int(np.floor(x)), w - 2)
    dy, dx = y - y0, x - x0
    return float((1 - dy) * (1 - dx) * feat[y0, x0] + (1 - dy) * dx * feat[y0, x0 + 1]
                 + dy * (1 - dx) * feat[y0 + 1, x0] + dy * dx * feat[y0 + 1, x0 + 1])


def _brute_force_pool(feat: np.ndarray, box_xyxy, scale: float, size: int, samples: int = 60) -> np.ndarray:
    """Mean of the interpolated feature over each bin, by dense midpoint sampling (aligned: -0.5)."""
    x0, y0, x1, y1 = (c * scale - 0.5 for c in box_xyxy)
    out = np.zeros((size, size))
    for i in range(size):
        for j in range(size):
            ys = y0 + (i + (np.arange(samples) + 0.5) / samples) * (y1 - y0) / size
            xs = x0 + (j + (np.arange(samples) + 0.5) / samples) * (x1 - x0) / size
            out[i, j] = np.mean([_bilinear(feat, y, x) for y in ys for x in xs])
    return out


def test_roi_pool_is_exact_on_a_linear_feature_map():
    # f(row, col) = 2 col + 3 row + 1: each bin's mean is the value at the bin centre.
    rows, cols = torch.meshgrid(torch.arange(10.0), torch.arange(10.0), indexing="ij")
    feat = (2 * cols + 3 * rows + 1).reshape(1, 1, 10, 10)
    pool = PrRoIPool2D(output_size=2, spatial_scale=1 / 4)
    box = torch.tensor([[[8.0, 12.0, 16.0, 8.0]]])  # x, y, w, h in image pixels (stride 4)
    out = pool(feat, box)[0, 0]
    # feature coords (aligned): x in [1.5, 5.5], y in [2.5, 4.5]; bin centres x 2.5 / 4.5, y 3.0 / 4.0
    expected = torch.tensor([[2 * 2.5 + 3 * 3.0 + 1, 2 * 4.5 + 3 * 3.0 + 1],
                             [2 * 2.5 + 3 * 4.0 + 1, 2 * 4.5 + 3 * 4.0 + 1]])
    torch.testing.assert_close(out, expected)


def test_roi_pool_matches_brute_force_integral_on_random_map():
    torch.manual_seed(1)
    feat = torch.randn(1, 1, 9, 9)
    box = [5.0, 7.0, 27.0, 30.0]  # x0, y0, x1, y1 in pixels, stride 4
    brute = _brute_force_pool(feat[0, 0].numpy(), box, 1 / 4, size=3)
    xywh = torch.tensor([[box[0], box[1], box[2] - box[0], box[3] - box[1]]])
    dense = PrRoIPool2D(3, 1 / 4, sampling_ratio=32)(feat, xywh)[0, 0].numpy()
    default = PrRoIPool2D(3, 1 / 4)(feat, xywh)[0, 0].numpy()
    np.testing.assert_allclose(dense, brute, atol=2e-3)
    np.testing.assert_allclose(default, brute, atol=0.1)  # 4x4 samples per bin


def test_roi_pool_equals_torchvision_roi_align_inside_the_map():
    from torchvision.ops import roi_align

    torch.manual_seed(2)
    feat = torch.randn(2, 3, 12, 12)
    boxes = torch.tensor([[[10.0, 12.0, 20.0, 16.0], [30.0, 8.0, 9.0, 25.0]],
                          [[4.0, 4.0, 30.0, 30.0], [20.0, 22.0, 12.0, 6.0]]])
    ours = PrRoIPool2D(3, 1 / 4, sampling_ratio=2)(feat, boxes)
    xyxy = torch.cat((boxes[..., :2], boxes[..., :2] + boxes[..., 2:]), dim=-1).reshape(-1, 4)
    rois = torch.cat((torch.tensor([0.0, 0.0, 1.0, 1.0]).reshape(-1, 1), xyxy), dim=1)
    reference = roi_align(feat, rois, output_size=3, spatial_scale=1 / 4, sampling_ratio=2, aligned=True)
    torch.testing.assert_close(ours, reference)


def test_roi_pool_is_differentiable_in_the_box():
    torch.manual_seed(3)
    feat = torch.randn(1, 2, 10, 10, dtype=torch.float64)
    pool = PrRoIPool2D(2, 1 / 8)
    box = torch.tensor([[13.0, 17.0, 30.0, 22.0]], dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(lambda b: pool(feat, b), (box,))


# --------------------------------------------------------------------------- filter ops and optimizer
def test_feat_transpose_is_the_filter_gradient():
    torch.manual_seed(0)
    feat = torch.randn(3, 2, 5, 6, 6, dtype=torch.float64)
    filt = torch.randn(2, 5, 4, 4, dtype=torch.float64, requires_grad=True)
    scores = apply_filter(feat, filt)
    assert scores.shape == (3, 2, 7, 7)  # 6 + 2 * 2 - 4 + 1
    residuals = torch.randn_like(scores)
    (grad,) = torch.autograd.grad((scores * residuals).sum(), filt)
    torch.testing.assert_close(apply_feat_transpose(feat, residuals, (4, 4)), grad)


def test_distance_map_hand_computed():
    dmap = DistanceMap(num_bins=5, bin_displacement=1.0)(torch.tensor([[0.0, 0.0]]), (12, 12))
    assert dmap.shape == (1, 5, 12, 12)
    torch.testing.assert_close(dmap[0, :, 0, 3], torch.tensor([0.0, 0.0, 0.0, 1.0, 0.0]))
    d = math.sqrt(2.0)  # pixel (1, 1): between bins 1 and 2
    torch.testing.assert_close(dmap[0, :, 1, 1], torch.tensor([0.0, 2.0 - d, d - 1.0, 0.0, 0.0]))
    torch.testing.assert_close(dmap[0, :, 11, 11], torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0]))  # far: last bin


def test_optimizer_initial_maps_follow_dimp_initialisation():
    opt = DiMPSteepestDescentGN(num_iter=1, feat_stride=16, init_gauss_sigma=0.9, num_dist_bins=100,
                                bin_displacement=0.1, mask_init_factor=3.0)
    bb = torch.tensor([[[64.0, 64.0, 32.0, 32.0]]])  # centre (80, 80) px -> cell (5, 5)
    label, mask, weight = opt.target_maps(bb, (4, 4), (11, 11))
    assert label.shape == mask.shape == weight.shape == (1, 1, 11, 11)
    label, mask = label.detach(), mask.detach()
    assert label[0, 0].argmax() == 5 * 11 + 5
    # distance 0 -> bin 0 only: Gaussian(0) minus its smallest value, at the last bin (d = 9.9 cells)
    assert label[0, 0, 5, 5].item() == pytest.approx(1.0 - math.exp(-0.5 * (9.9 / 0.9) ** 2), abs=1e-5)
    assert mask[0, 0, 5, 5].item() == pytest.approx(torch.sigmoid(torch.tensor(3 * math.tanh(2.0))).item(), abs=1e-5)
    # 7.07 cells away: sigmoid(3 tanh(2 - 7.07)) ~ sigmoid(-3)
    assert mask[0, 0, 0, 0].item() == pytest.approx(1.0 / (1.0 + math.exp(3.0)), abs=1e-3)
    torch.testing.assert_close(weight, torch.ones_like(weight))


def test_optimizer_lowers_its_objective_on_a_toy_problem():
    torch.manual_seed(0)
    opt = DiMPSteepestDescentGN(num_iter=8, feat_stride=16, init_step_length=1.0, init_filter_reg=0.1,
                                init_gauss_sigma=1.0, num_dist_bins=10, bin_displacement=0.5, mask_init_factor=3.0)
    feat = torch.randn(4, 1, 16, 8, 8)
    bb = torch.tensor([48.0, 40.0, 32.0, 48.0]).expand(4, 1, 4)
    filt, iterates, losses = opt(torch.zeros(1, 16, 4, 4), feat=feat, bb=bb)
    assert len(iterates) == 9 and len(losses) == 9 and filt.shape == (1, 16, 4, 4)
    values = torch.cat(losses).detach()
    assert torch.all(values[1:] <= values[:-1] + 1e-6), values
    assert values[-1] < 0.5 * values[0]
    # The reported objective is the DiMP loss of the final filter, recomputed here by hand.
    label, mask, weight = opt.target_maps(bb, (4, 4), (9, 9))
    s = apply_filter(feat, filt)
    r = (1 - mask) / 2 * s.abs() + (1 + mask) / 2 * s
    expected = ((weight / 2.0 * (r - label)) ** 2).sum() + 0.01 * (filt ** 2).sum()  # sqrt(1/4) = 1/2
    torch.testing.assert_close(values[-1], expected.detach())


def test_optimizer_tracker_call_signature_with_sample_weights():
    torch.manual_seed(0)
    opt = DiMPSteepestDescentGN(num_iter=2, num_dist_bins=10, bin_displacement=0.5)
    feat = torch.randn(5, 8, 6, 6)  # tracker memory: (samples, C, H, W), one sequence
    bb = torch.tensor([30.0, 30.0, 20.0, 20.0]).expand(5, 4)
    weights = torch.tensor([0.4, 0.3, 0.1, 0.1, 0.1])
    filt, iterates, losses = opt(torch.zeros(1, 8, 4, 4), feat=feat, bb=bb, sample_weight=weights, num_iter=10)
    assert filt.shape == (1, 8, 4, 4) and len(iterates) == 11 and losses[-1] < losses[0]


# --------------------------------------------------------------------------- classifier pieces
def test_instance_l2_norm_hand_computed():
    x = torch.randn(2, 3, 4, 4) * 7
    y = InstanceL2Norm(scale=0.5)(x)
    torch.testing.assert_close(y.square().sum(dim=(1, 2, 3)), torch.full((2,), 0.25 * 48), rtol=1e-4, atol=0)


@pytest.mark.parametrize("bottleneck, blocks, in_ch", [(False, 1, 32), (True, 0, 64), (True, 1, 64)])
def test_classification_feature_block_shapes_and_gradients(bottleneck, blocks, in_ch):
    block = classification_feature_block(in_ch, 16, blocks, bottleneck, norm_scale=1.0)
    y = block(torch.randn(2, in_ch, 6, 6))
    assert y.shape == (2, 16, 6, 6)
    y.sum().backward()
    assert_all_grads(block)


def test_filter_initializer_pools_the_target_and_averages_images():
    init = FilterInitializerLinear(filter_size=4, feature_dim=8)
    feat = torch.randn(3, 2, 8, 10, 10)
    bb = torch.tensor([40.0, 40.0, 64.0, 64.0]).expand(3, 2, 4)
    filt = init(feat, bb)
    assert filt.shape == (2, 8, 4, 4)
    conv = init.filter_conv(feat.reshape(-1, 8, 10, 10)).reshape(3, 2, 8, 10, 10)
    pooled = init.filter_pool(conv[:, 1].reshape(3, 8, 10, 10), bb[:, 1]).mean(dim=0)
    torch.testing.assert_close(filt[1], pooled)
    filt.sum().backward()
    assert_all_grads(init)


# --------------------------------------------------------------------------- IoU-Net and losses
def test_iou_net_shapes_and_gradient_wrt_proposals():
    torch.manual_seed(0)
    net = AtomIoUNet(input_dim=(16, 32), pred_input_dim=(24, 24), pred_inter_dim=(20, 20))
    train = [torch.randn(2 * 3, 16, 8, 8), torch.randn(2 * 3, 32, 4, 4)]  # 2 train frames x 3 sequences
    test = [torch.randn(2 * 3, 16, 8, 8), torch.randn(2 * 3, 32, 4, 4)]
    train_bb = torch.tensor([20.0, 20.0, 24.0, 24.0]).expand(2, 3, 4)
    proposals = (torch.tensor([18.0, 22.0, 26.0, 20.0]) + torch.randn(2, 3, 5, 4)).requires_grad_(True)
    iou = net(train, test, train_bb, proposals)
    assert iou.shape == (2, 3, 5)
    loss = iou_loss(iou, torch.rand(2, 3, 5))
    loss.backward()
    assert_all_grads(net)
    assert proposals.grad is not None and proposals.grad.abs().sum() > 0  # box refinement needs this


def test_lb_hinge_hand_computed():
    hinge = LBHinge(threshold=0.05)
    label = torch.tensor([0.0, 0.0, 0.5, 1.0])
    pred = torch.tensor([-1.0, 2.0, 0.2, 1.0])
    # background: relu(-1) = 0 -> 0; relu(2) = 2 -> 4; target: (0.2 - 0.5)^2 = 0.09; 0
    assert hinge(pred, label).item() == pytest.approx((0 + 4 + 0.09 + 0) / 4)
    assert LBHinge(threshold=0.05, clip=0.5)(pred, label).item() == pytest.approx(0.5)

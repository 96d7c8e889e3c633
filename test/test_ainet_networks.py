"""AINet's networks: the selective-scan backends against a sequential reference, shapes and gradients of every
module (Mamba layers, DFM, OFM and its order-dynamic scan, center head, the assembled model), configs,
checkpoints and the parameter / FLOP counts of `rgbt-tracker info`."""
from __future__ import annotations

import json

import pytest
import torch

from rgbt_tracker_ros.cli.main import main
from rgbt_tracker_ros.errors import CheckpointError, InputError
from rgbt_tracker_ros.networks.ainet import AINet
from rgbt_tracker_ros.networks.center_head import CenterHead, HeadOutput, boxes_at, peak_boxes
from rgbt_tracker_ros.networks.checkpoint import load_checkpoint, save_checkpoint
from rgbt_tracker_ros.networks.config import AINetConfig, build_model, load_config
from rgbt_tracker_ros.networks.flops import ainet_flops, ainet_parameter_counts
from rgbt_tracker_ros.networks.fusion_mamba import DFM, OFM, permute_layers, sort_permutation
from rgbt_tracker_ros.networks.mamba import MambaMixer, SelectiveSSM, available_backends, selective_scan

pytestmark = pytest.mark.usefixtures("one_thread")

#: A config small enough for gradient checks in a second: 2 layers of width 32, 32 px template, 64 px search.
MICRO = AINetConfig(name="micro", embed_dim=32, depth=2, num_heads=2, template_size=32, search_size=64, d_state=4,
                    order_dim=8, order_hidden=16, head_channels=16, drop_path_rate=0.0)


def reference_scan(x, delta, A, B, C, D):
    """The selective scan written step by step (float64): h_t = exp(delta_t A) h_{t-1} + delta_t B_t x_t,
    y_t = C_t . h_t + D x_t."""
    x, delta, A, B, C, D = (t.double() for t in (x, delta, A, B, C, D))
    h = torch.zeros(x.shape[0], x.shape[2], A.shape[1], dtype=torch.float64)
    outputs = []
    for t in range(x.shape[1]):
        h = torch.exp(delta[:, t, :, None] * A) * h + delta[:, t, :, None] * B[:, t, None, :] * x[:, t, :, None]
        outputs.append((h * C[:, t, None, :]).sum(-1) + D * x[:, t])
    return torch.stack(outputs, dim=1)


def scan_inputs(length: int, seed: int = 0, device: str = "cpu"):
    generator = torch.Generator().manual_seed(seed)
    batch, channels, state = 2, 5, 3
    x = torch.randn(batch, length, channels, generator=generator)
    delta = torch.nn.functional.softplus(torch.randn(batch, length, channels, generator=generator))
    A = -torch.rand(channels, state, generator=generator) * 2 - 0.1
    B = torch.randn(batch, length, state, generator=generator)
    C = torch.randn(batch, length, state, generator=generator)
    D = torch.randn(channels, generator=generator)
    return [t.to(device).requires_grad_(True) for t in (x, delta, A, B, C, D)]


@pytest.mark.parametrize("backend", available_backends())  # mamba_ssm where it is installed (CUDA)
@pytest.mark.parametrize("length", [1, 8, 37])  # 37: not a power of two (the parallel scan pads)
def test_scan_backend_matches_the_sequential_reference(backend, length):
    device = "cuda" if backend == "mamba_ssm" else "cpu"
    inputs = scan_inputs(length, device=device)
    y = selective_scan(*inputs, backend=backend)
    reference_inputs = [t.detach().cpu().double().requires_grad_(True) for t in inputs]
    expected = reference_scan(*reference_inputs)
    torch.testing.assert_close(y.detach().cpu().double(), expected.detach(), rtol=1e-4, atol=1e-5)
    weights = torch.randn(expected.shape, dtype=torch.float64)
    (y.cpu().double() * weights).sum().backward()
    (expected * weights).sum().backward()
    for name, ours, theirs in zip("x delta A B C D".split(), inputs, reference_inputs):
        torch.testing.assert_close(ours.grad.cpu().double(), theirs.grad, rtol=1e-3, atol=1e-4, msg=name)


def test_scan_checks_shapes_and_backend():
    x, delta, A, B, C, D = (t.detach() for t in scan_inputs(4))
    with pytest.raises(InputError, match="selective_scan"):
        selective_scan(x, delta[:, :3], A, B, C, D)
    with pytest.raises(InputError, match=r"A must be \(D, N\)"):
        selective_scan(x, delta, A.T, B, C, D)
    with pytest.raises(InputError, match="unknown selective-scan backend 'cuda'"):
        selective_scan(x, delta, A, B, C, D, backend="cuda")
    if "mamba_ssm" not in available_backends():
        with pytest.raises(InputError, match="mamba_ssm"):
            selective_scan(x, delta, A, B, C, D, backend="mamba_ssm")


def _assert_all_gradients(module: torch.nn.Module) -> None:
    for name, parameter in module.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, f"{name} received no gradient"


def test_mamba_layers_shapes_and_gradients():
    torch.manual_seed(0)
    ssm = SelectiveSSM(12, d_state=4)
    x = torch.randn(2, 9, 12, requires_grad=True)
    y = ssm(x)
    assert y.shape == (2, 9, 12)
    y.square().sum().backward()
    _assert_all_gradients(ssm)
    mixer = MambaMixer(8, d_state=4)
    u = torch.randn(2, 9, 8)
    out = mixer(u)
    assert out.shape == u.shape
    out.square().sum().backward()
    _assert_all_gradients(mixer)
    # causal: the output at t does not depend on later inputs
    changed = u.clone()
    changed[:, 5:] += 1.0
    torch.testing.assert_close(mixer(changed)[:, :5], mixer(u)[:, :5])


def test_dfm_starts_as_identity_and_then_compensates():
    torch.manual_seed(0)
    dfm = DFM(16, d_state=4)
    rgb, tir = torch.randn(2, 10, 16), torch.randn(2, 10, 16)
    out = dfm(rgb, tir)
    torch.testing.assert_close(out.rgb, rgb)  # zero-initialised Mamba output: a = tanh(0) = 0
    torch.testing.assert_close(out.tir, tir)
    torch.testing.assert_close(out.fused, rgb + tir)
    torch.nn.init.normal_(dfm.mamba.out_proj.weight, std=0.5)
    out = dfm(rgb, tir)
    assert out.gate.shape == rgb.shape and out.gate.abs().max() <= 1.0
    torch.testing.assert_close(out.rgb, rgb + rgb * out.gate)
    torch.testing.assert_close(out.tir, tir + tir * out.gate)
    # identical modalities: no difference, nothing to compensate
    torch.testing.assert_close(dfm(rgb, rgb).rgb, rgb + rgb * torch.tanh(dfm.mamba(dfm.norm(torch.zeros_like(rgb)))))
    (out.fused.square().sum()).backward()
    _assert_all_gradients(dfm)
    assert DFM(16, activation="sigmoid")(rgb, tir).gate.min() > 0


def test_sort_permutation_permutes_and_restores_tokens_exactly():
    torch.manual_seed(0)
    layers, tokens, channels = 5, 7, 3
    scores = torch.randn(2, layers, requires_grad=True)
    permutation, order = sort_permutation(scores, temperature=0.5)
    torch.testing.assert_close(order, scores.argsort(dim=-1, descending=True))
    assert torch.equal(permutation.detach(), torch.nn.functional.one_hot(order, layers).float())
    x = torch.randn(2, layers * tokens, channels)
    moved = permute_layers(x, permutation, layers)
    blocks = x.reshape(2, layers, tokens, channels)
    for n in range(2):
        for i in range(layers):  # block i of the result is exactly layer order[i]
            assert torch.equal(moved.reshape(2, layers, tokens, channels)[n, i], blocks[n, order[n, i]])
    restored = permute_layers(moved, permutation.transpose(1, 2), layers)
    assert torch.equal(restored, x)  # bit for bit
    # the order gets a gradient (straight-through SoftSort), although argsort has none
    weights = torch.arange(layers * tokens * channels, dtype=torch.float32).reshape(1, -1, channels)
    (moved * weights).sum().backward()
    assert scores.grad is not None and scores.grad.abs().sum() > 0


def test_ofm_shapes_order_and_gradients():
    torch.manual_seed(0)
    ofm = OFM(16, layers=3, d_state=4, order_dim=4, order_hidden=8)
    layer_tokens = torch.randn(2, 3, 6, 16, requires_grad=True)
    out = ofm(layer_tokens)
    assert out.tokens.shape == layer_tokens.shape
    assert out.order.shape == (2, 3) and sorted(out.order[0].tolist()) == [0, 1, 2]
    assert out.weights.shape == (2, 3)
    torch.testing.assert_close(out.weights.sum(dim=1), torch.ones(2))
    out.tokens.square().sum().backward()
    _assert_all_gradients(ofm)  # includes the order predictor, through the straight-through order
    assert layer_tokens.grad.abs().sum() > 0


def test_center_head_maps_and_box_decoding():
    torch.manual_seed(0)
    head = CenterHead(32, channels=16)
    out = head(torch.randn(2, 32, 8, 8))
    assert out.score.shape == (2, 1, 8, 8) and out.size.shape == out.offset.shape == (2, 2, 8, 8)
    assert out.score.min() >= 1e-4 and out.score.max() <= 1 - 1e-4
    assert [k for k in head.state_dict() if k.startswith("conv1_ctr")] == [
        "conv1_ctr.0.weight", "conv1_ctr.0.bias", "conv1_ctr.1.weight", "conv1_ctr.1.bias",
        "conv1_ctr.1.running_mean", "conv1_ctr.1.running_var", "conv1_ctr.1.num_batches_tracked"]
    # by hand: peak at row 2, column 5 of a 4 x 8 map, offset (0.25, -0.5), size (0.3, 0.1)
    score = torch.zeros(1, 1, 4, 8)
    score[0, 0, 2, 5] = 1.0
    size, offset = torch.zeros(1, 2, 4, 8), torch.zeros(1, 2, 4, 8)
    size[0, :, 2, 5] = torch.tensor([0.3, 0.1])
    offset[0, :, 2, 5] = torch.tensor([0.25, -0.5])
    maps = HeadOutput(score=score, size=size, offset=offset)
    boxes, index = peak_boxes(maps)
    assert int(index) == 2 * 8 + 5
    torch.testing.assert_close(boxes, torch.tensor([[5.25 / 8, 1.5 / 4, 0.3, 0.1]]))
    torch.testing.assert_close(boxes_at(maps, torch.tensor([0])), torch.zeros(1, 4))


def micro_inputs(batch: int = 2, config: AINetConfig = MICRO):
    z, x = config.template_size, config.search_size
    return (torch.rand(batch, 3, z, z), torch.rand(batch, 1, z, z), torch.rand(batch, 3, x, x),
            torch.rand(batch, 1, x, x))


def test_ainet_forward_shapes_features_and_gradients():
    torch.manual_seed(0)
    model = build_model(MICRO)
    assert isinstance(model, AINet) and not model.backbone_pretrained
    for dfm in model.dfm:  # leave the identity start so that every parameter gets a gradient
        torch.nn.init.normal_(dfm.mamba.out_proj.weight, std=0.1)
    out = model(*micro_inputs())
    grid = MICRO.search_grid
    assert out.head.score.shape == (2, 1, grid, grid) and out.boxes.shape == (2, 4)
    features = out.features
    assert set(features.rgb) == set(features.tir) == {"layer1", "layer2"}
    assert set(features.fused) == {"layer1", "layer2", "ofm"}
    assert features.fused["ofm"].shape == (2, MICRO.embed_dim, grid, grid)
    assert features.dfm_gates.shape == (2, 2) and features.layer_order.shape == (2, 2)
    weights = features.path_weights_list(1)
    assert set(weights) == {"ofm", "ofm_order", "dfm"} and sum(weights["ofm"]) == pytest.approx(1.0, abs=1e-5)
    assert sorted(weights["ofm_order"]) == [0.0, 1.0]
    loss = out.head.score.sum() + out.head.size.sum() + out.head.offset.sum() + out.boxes.sum()
    loss.backward()
    _assert_all_gradients(model)


def test_ainet_input_checks():
    model = build_model(MICRO).eval()
    t_rgb, t_tir, s_rgb, s_tir = micro_inputs(1)
    with pytest.raises(InputError, match="takes 32 px templates and 64 px search"):
        model(t_rgb, t_tir, t_rgb, t_tir)
    with pytest.raises(InputError, match="thermal"):
        model(t_rgb, t_rgb, s_rgb, s_tir)
    with pytest.raises(InputError, match="batch"):
        model(t_rgb, t_tir, torch.cat([s_rgb, s_rgb]), torch.cat([s_tir, s_tir]))


def test_configs_and_their_checks():
    vitb, tiny = load_config("ainet-vitb"), load_config("ainet-tiny")
    assert isinstance(vitb, AINetConfig) and vitb.family == "ainet"
    assert (vitb.embed_dim, vitb.depth, vitb.template_size, vitb.search_size) == (768, 12, 128, 256)
    assert vitb.tokens_per_layer == 320 and vitb.depth * vitb.tokens_per_layer == 3840
    assert tiny.sampler_fields() == {"output_size": 128, "feature_stride": 16, "template_size": 64}
    assert vitb.architecture_differences(vitb.replace(scan_backend="mambapy", pretrained="x.pth")) == []
    assert load_config("student-tiny").architecture_differences(tiny) == ["family ('dimp' vs 'ainet')"]
    with pytest.raises(InputError, match="multiple of patch_size"):
        MICRO.replace(search_size=60)
    with pytest.raises(InputError, match="dfm_activation"):
        MICRO.replace(dfm_activation="relu")
    with pytest.raises(InputError, match="scan_backend"):
        MICRO.replace(scan_backend="triton")
    with pytest.raises(InputError, match="divisible by num_heads"):
        MICRO.replace(num_heads=3)


def test_checkpoint_round_trip_knows_the_family(tmp_path):
    torch.manual_seed(0)
    model = build_model(MICRO).eval()
    path = save_checkpoint(tmp_path / "micro.pt", model, training_data="test")
    loaded, meta = load_checkpoint(path)
    assert isinstance(loaded, AINet) and meta["config"] == MICRO
    inputs = micro_inputs(1)
    with torch.no_grad():
        torch.testing.assert_close(loaded(*inputs).head.score, model(*inputs).head.score)
    with pytest.raises(CheckpointError, match=r"family \('dimp' vs 'ainet'\)"):
        load_checkpoint(path, config="student-tiny")
    with pytest.raises(CheckpointError, match="depth"):
        load_checkpoint(path, config=MICRO.replace(depth=3))


def test_parameter_and_flop_counts():
    model = build_model("ainet-tiny")
    params = ainet_parameter_counts(model)
    assert params["built"] == sum(params[k] for k in ("backbone", "dfm", "ofm", "box_head"))
    assert params["ostrack_equivalent"] == params["backbone"] + params["box_head"]
    flops = ainet_flops(model)
    assert all(flops[k] > 0 for k in ("backbone", "dfm", "ofm", "box_head", "selective_scan"))
    assert flops["total"] == sum(flops[k] for k in ("backbone", "dfm", "ofm", "box_head", "selective_scan"))
    # the ViT on two modalities: a 4-layer width-96 block costs 2 * (12 d^2 T + 2 d T^2) FLOPs per modality
    c = model.config
    tokens, d = c.tokens_per_layer, c.embed_dim
    blocks = 2 * c.depth * 2 * (12 * d * d * tokens + 2 * d * tokens * tokens)
    patches = 2 * 2 * (3 * 16 * 16) * d * tokens
    assert flops["backbone"] == blocks + patches


def test_info_prints_ainet_configs(capsys):
    assert main(["info", "ainet-tiny"]) == 0
    text = capsys.readouterr().out
    assert "OSTrack part" in text and "selective_scan" in text and "(1, 320, 96)" in text
    assert main(["info", "ainet-tiny", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["parameters"]["built"] == sum(p.numel() for p in build_model("ainet-tiny").parameters())
    assert main(["info", "ainet-tiny", "--input-size", "128"]) == 2
    assert "--input-size does not apply to AINet" in capsys.readouterr().err

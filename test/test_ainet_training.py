"""AINet's training: OSTrack samples (crops, Gaussian labels), the GIoU / focal losses and OSTrack's weighted
objective by hand, the recipes, and a tiny run through the one training loop (checkpoints, log, resume)."""
from __future__ import annotations

import csv
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from rgbt_tracker_ros.cli.main import main
from rgbt_tracker_ros.data.datasets import open_dataset
from rgbt_tracker_ros.data.mixture import SourceMixture, TrainingSource
from rgbt_tracker_ros.data.ostrack_sampler import OSTrackSampler, center_heatmap, gaussian_radius
from rgbt_tracker_ros.data.sampler import collate_samples
from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.networks.ainet import AINet
from rgbt_tracker_ros.networks.center_head import HeadOutput
from rgbt_tracker_ros.networks.checkpoint import load_checkpoint
from rgbt_tracker_ros.networks.config import AINetConfig, load_config
from rgbt_tracker_ros.networks.losses import center_focal_loss, giou_loss
from rgbt_tracker_ros.training.actors import DiMPActor, OSTrackActor, default_objective
from rgbt_tracker_ros.training.loop import train
from rgbt_tracker_ros.training.losses import OSTrackLoss
from rgbt_tracker_ros.training.settings import load_settings

pytestmark = pytest.mark.usefixtures("one_thread")

MICRO = AINetConfig(name="micro", embed_dim=32, depth=2, num_heads=2, template_size=32, search_size=64, d_state=4,
                    order_dim=8, order_hidden=16, head_channels=16, drop_path_rate=0.0)



def small_settings(**changes):
    base = load_settings("ainet-synthetic-cpu")
    return base.replace(**{"epochs": 2, "samples_per_epoch": 4, "batch_size": 2, **changes})


def sampler_settings(settings=None):
    from dataclasses import replace

    return replace((settings or small_settings()).sampler, **MICRO.sampler_fields())


def test_recipes():
    paper = load_settings("ainet")
    assert (paper.optimizer, paper.lr, paper.weight_decay, paper.batch_size, paper.epochs) == ("adamw", 1e-4, 1e-4, 16, 15)
    assert paper.samples_per_epoch == 60000 and paper.loss_weights == {"giou": 2.0, "l1": 5.0, "focal": 1.0}
    assert (paper.sampler.template_area_factor, paper.sampler.search_area_factor) == (2.0, 4.0)
    assert (paper.sampler.num_train_frames, paper.sampler.num_test_frames, paper.grad_clip_norm) == (1, 1, 0.1)
    cpu = load_settings("ainet-synthetic-cpu")
    assert cpu.optimizer == "adamw" and cpu.module_lrs == {} and cpu.loss_weights == paper.loss_weights
    with pytest.raises(InputError, match="optimizer must be one of adam, adamw"):
        paper.replace(optimizer="sgd").__post_init__()
    assert default_objective(MICRO) is OSTrackActor and default_objective(load_config("student-tiny")) is DiMPActor


def test_gaussian_label_by_hand():
    # CenterNet's radius of a 2 x 2 cell box (min overlap 0.7): the third case, (b3 + sqrt(b3^2 - 4 a3 c3)) / 2
    a3, b3, c3 = 4 * 0.7, -2 * 0.7 * 4, (0.7 - 1) * 4
    assert gaussian_radius(2.0, 2.0) == pytest.approx((b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2)
    label = center_heatmap(np.array([0.25, 0.25, 0.25, 0.25]), 8)  # 2 x 2 cells centred at cell (3, 3)
    assert label[3, 3] == 1.0 and label.max() == 1.0 and np.count_nonzero(label == 1.0) == 1
    radius = int(gaussian_radius(2.0, 2.0))
    sigma = (2 * radius + 1) / 6
    assert label[3, 3 + radius] == pytest.approx(math.exp(-radius ** 2 / (2 * sigma ** 2)))
    assert label[3, 3 + radius + 1] == 0.0  # drawn inside the (2r + 1)^2 window only


def test_ostrack_samples(synthetic_root):
    sequences = open_dataset(synthetic_root)
    sampler = OSTrackSampler(sequences, sampler_settings(), samples_per_epoch=4, seed=3)
    sample = sampler[0]
    assert sample["template_rgb"].shape == (1, 3, 32, 32) and sample["template_tir"].shape == (1, 1, 32, 32)
    assert sample["search_rgb"].shape == (1, 3, 64, 64) and sample["search_tir"].shape == (1, 1, 64, 64)
    assert sample["search_label"].shape == (1, 4, 4) and sample["search_visible"].tolist() == [1.0]
    box = sample["search_box"][0].numpy()
    assert 0 < box[2] < 1 and 0 < box[3] < 1
    peak = np.unravel_index(int(sample["search_label"][0].argmax()), (4, 4))
    assert peak == tuple(int(v) for v in np.round((box[[1, 0]] + box[[3, 2]] / 2) * 4))
    for key, value in sampler[0].items():  # a sample depends only on (seed, epoch, index)
        assert torch.equal(value, sample[key])
    batch = collate_samples([sampler[0], sampler[1]])
    assert batch["search_rgb"].shape == (1, 2, 3, 64, 64)
    mixture = SourceMixture([TrainingSource("a", sequences, 1.0)]).sampler(sampler_settings(), 4, 0, OSTrackSampler)
    assert set(mixture[0]) == set(sample)


def test_template_crop_is_centred_on_the_box_without_jitter(synthetic_root):
    sequences = open_dataset(synthetic_root)
    settings = sampler_settings(small_settings())
    sampler = OSTrackSampler(sequences, settings, samples_per_epoch=1)
    pair = sequences[0][0]
    _, _, crop_box = sampler._crop_to(pair, pair.gt_rgb, np.random.default_rng(0), (0.0, 0.0), 2.0, 32, False,
                                      np.ones(2))
    np.testing.assert_allclose(crop_box[:2] + crop_box[2:] / 2, [16.0, 16.0], atol=1e-6)
    np.testing.assert_allclose(math.sqrt(crop_box[2] * crop_box[3]), 16.0, atol=1e-6)  # 32 px / factor 2


def test_giou_and_focal_by_hand():
    box = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    loss, iou = giou_loss(box, box)
    assert float(loss) == pytest.approx(0.0) and float(iou) == pytest.approx(1.0)
    # disjoint unit squares 1 apart: IoU 0, enclosing 3 x 1, union 2 -> GIoU = -1/3
    loss, iou = giou_loss(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[2.0, 0.0, 3.0, 1.0]]))
    assert float(iou) == 0.0 and float(loss) == pytest.approx(1 + 1 / 3)
    label = torch.tensor([[[1.0, 0.5], [0.0, 0.0]]])
    prediction = torch.tensor([[[0.8, 0.4], [0.1, 0.2]]])
    positive = math.log(0.8) * 0.2 ** 2
    negative = (math.log(0.6) * 0.4 ** 2 * 0.5 ** 4 + math.log(0.9) * 0.1 ** 2 + math.log(0.8) * 0.2 ** 2)
    assert float(center_focal_loss(prediction, label)) == pytest.approx(-(positive + negative))


def test_ostrack_loss_weights_and_masks_hidden_targets():
    score = torch.full((2, 1, 4, 4), 0.5)
    output = SimpleNamespace(head=HeadOutput(score=score, size=torch.zeros(2, 2, 4, 4), offset=torch.zeros(2, 2, 4, 4)),
                             boxes=torch.tensor([[0.5, 0.5, 0.2, 0.2], [0.1, 0.1, 0.1, 0.1]]))
    batch = {"search_box": torch.tensor([[[0.4, 0.4, 0.2, 0.2], [0.6, 0.6, 0.3, 0.3]]]),
             "search_label": torch.zeros(1, 2, 4, 4), "search_visible": torch.tensor([[1.0, 0.0]])}
    terms = OSTrackLoss()(output, batch).terms
    assert terms["giou"] == pytest.approx(0.0, abs=1e-6) and terms["l1"] == pytest.approx(0.0, abs=1e-6)
    assert terms["iou"] == pytest.approx(1.0)  # the hidden second target does not count
    expected_focal = -32 * math.log(0.5) * 0.25 / 1  # no peak: the negative sum alone
    assert terms["focal"] == pytest.approx(expected_focal)
    assert terms["loss"] == pytest.approx(terms["giou"] + terms["l1"] + terms["focal"])
    batch["search_visible"] = torch.ones(1, 2)  # now the second (wrong) box counts: half its terms, then none
    full = OSTrackLoss()(output, batch).terms
    assert full["giou"] > 0 and full["l1"] > 0
    dropped = OSTrackLoss()(output, {**batch, "box_weight": torch.tensor([[1.0, 0.0]])}).terms
    assert dropped["giou"] == pytest.approx(0.0, abs=1e-6) and dropped["l1"] == pytest.approx(0.0, abs=1e-6)
    halved = OSTrackLoss()(output, {**batch, "box_weight": torch.tensor([[1.0, 0.5]])}).terms
    assert halved["giou"] == pytest.approx(full["giou"] / 2) and halved["focal"] == pytest.approx(full["focal"])


def test_objectives_refuse_the_other_familys_settings(synthetic_root, tmp_path):
    sequences = open_dataset(synthetic_root)
    with pytest.raises(InputError, match="weigh loss term.*iou.*OSTrack's loss"):
        train(MICRO, sequences, tmp_path / "a", load_settings("synthetic-cpu"), device="cpu", progress=False)
    with pytest.raises(InputError, match="weigh loss term.*focal.*L_original"):
        train("student-tiny", sequences, tmp_path / "b", small_settings(), device="cpu", progress=False,
              pretrained="none")


def test_tiny_training_run_through_the_loop(synthetic_root, tmp_path):
    sequences = open_dataset(synthetic_root)
    run = tmp_path / "run"
    result = train(MICRO, sequences, run, small_settings(epochs=1), device="cpu", progress=False,
                   data_description="two synthetic sequences")
    assert [e.epoch for e in result.epochs] == [1] and result.epochs[0].iterations == 2
    assert all(math.isfinite(v) for v in result.epochs[0].terms.values())
    with open(run / "log.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[:7] == ["epoch", "lr", "loss", "giou", "l1", "focal", "iou"]
    model, meta = load_checkpoint(run / "checkpoints" / "epoch_001.pt")
    assert isinstance(model, AINet) and "two synthetic sequences" in meta["training_data"]
    resumed = train(MICRO, sequences, run, small_settings(), device="cpu", progress=False, resume=True, epochs=2)
    assert [e.epoch for e in resumed.epochs] == [2]
    # the run continued from the stored state: an uninterrupted run gives the same weights
    fresh = train(MICRO, sequences, tmp_path / "fresh", small_settings(), device="cpu", progress=False)
    for key, value in fresh.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, msg=key)


def test_train_command_defaults_to_the_ainet_recipe(synthetic_root, tmp_path, capsys):
    code = main(["train", "--model-config", "ainet-tiny", "--data", str(synthetic_root), "--out", str(tmp_path / "r"),
                 "--epochs", "1", "--samples-per-epoch", "2", "--batch", "2", "--device", "cpu", "--no-progress"])
    assert code == 0
    assert "settings 'ainet'" in capsys.readouterr().err
    _, meta = load_checkpoint(tmp_path / "r" / "checkpoints" / "epoch_001.pt")
    assert meta["config"].name == "ainet-tiny"


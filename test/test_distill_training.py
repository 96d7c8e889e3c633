"""CMD distillation training (distill/objective.py through training/loop.py): Eq. 14, gradients, frozen
teacher, exact resume (each for both teacher families), the Student-Origin row, weighted sources, errors, DDP.

student-tiny / teacher-tiny at a 64 px crop (every module as bundled, smaller maps), ainet-tiny as configured, all
from random weights.
"""
from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from rgbt_tracker_ros.data.datasets import open_dataset
from rgbt_tracker_ros.data.mixture import SourceMixture, TrainingSource, open_training_root
from rgbt_tracker_ros.distill.objective import cmd_objective
from rgbt_tracker_ros.distill.teachers import AINetTeacher, DiMPTeacher
from rgbt_tracker_ros.errors import CheckpointError, DatasetError, InputError
from rgbt_tracker_ros.networks.checkpoint import load_checkpoint, save_checkpoint
from rgbt_tracker_ros.networks.config import AnyConfig, build_model, load_config
from rgbt_tracker_ros.training.distributed import DistributedContext
from rgbt_tracker_ros.training.loop import Trainer, read_training_state, train
from rgbt_tracker_ros.training.run_log import read_log
from rgbt_tracker_ros.training.settings import DistillSettings, TrainSettings

STUDENT = load_config("student-tiny", input_size=64, pretrained="none")
TEACHER = load_config("teacher-tiny", input_size=64, pretrained="none")
AINET = load_config("ainet-tiny")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def teacher_path(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("teacher") / "teacher.pt", build_model(TEACHER))


@dataclass(frozen=True)
class TeacherFamily:
    """A teacher checkpoint and what distilling from it must look like (the rest is the same for every family)."""

    path: Path
    config: AnyConfig
    teacher_class: type
    objective_modules: set[str]  # top-level names of the modules that train with the student
    mpsd_reaches: set[str]  # where MPSD's gradients go: the ABF-free fused features, or through width adapters
    teacher_shapes: dict[str, tuple[int, ...]]  # targets for 2 train + 1 test frames of a batch of 2


@pytest.fixture(params=["teacher-tiny", "ainet-tiny"])
def family(request, teacher_path, ainet_path) -> TeacherFamily:
    """The CMD teacher of seed 000 (same widths as the student's fused features) and the AINet of seed 003 (96-wide
    tokens on its own views of the student's frames, MPSD through width adapters)."""
    if request.param == "teacher-tiny":
        return TeacherFamily(teacher_path, TEACHER, DiMPTeacher, {"scfd"}, {"backbone", "fusion"},
                             {"fused.layer3": (6, 256, 4, 4)})  # the student's ResNet18 widths
    return TeacherFamily(ainet_path, AINET, AINetTeacher, {"scfd", "mpsd"}, {"backbone", "fusion", "mpsd"},
                         {"rgb.stem": (6, 96, 8, 8), "fused.layer3": (6, 96, 8, 8)})


def test_one_step_sums_eq_14_moves_student_and_abf_and_leaves_the_teacher_untouched(synthetic_root, family,
                                                                                    small_distill_settings):
    trainer = Trainer(STUDENT, open_dataset(synthetic_root), small_distill_settings(), DistributedContext(),
                      objective=cmd_objective(family.path, STUDENT))
    actor = trainer.actor
    assert isinstance(actor.teacher, family.teacher_class)
    teacher_before = {k: v.clone() for k, v in actor.teacher.state_dict().items()}
    extra_before = {k: v.clone() for k, v in actor.extra.state_dict().items()}
    student_before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    terms = trainer.train_step(next(iter(trainer.loader(epoch=1))))

    assert terms["loss"] == pytest.approx(terms["original"] + terms["scfd"] + terms["mpsd"] + terms["hfrd"], rel=1e-5)
    assert terms["scfd"] == pytest.approx(0.001 * terms["l_scfd"], rel=1e-5)
    assert terms["mpsd"] == pytest.approx(0.001 * (terms["l_fus"] + terms["l_p"]), rel=1e-5)
    assert terms["hfrd"] == pytest.approx(100.0 * terms["l_hfrd"], rel=1e-5)
    assert all(terms[k] > 0 for k in ("l_scfd", "l_fus", "l_p", "l_hfrd")) and 0 <= terms["mpsd_agree"] <= 1
    # The teacher: bit-identical (BatchNorm statistics too: eval mode, which train() cannot undo), no gradients,
    # not in the optimizer.
    teacher_after = actor.teacher.state_dict()
    assert all(torch.equal(teacher_after[k], v) for k, v in teacher_before.items())
    assert not actor.teacher.training and not actor.teacher.train().training
    assert all(p.grad is None and not p.requires_grad for p in actor.teacher.parameters())
    optimised = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert not optimised & {id(p) for p in actor.teacher.parameters()}
    # The ABF modules (and AINet's width adapters) train with the student, in their own optimizer group.
    assert {k.split(".")[0] for k in actor.extra.state_dict()} == family.objective_modules
    assert {id(p) for p in actor.extra.parameters()} == {id(p) for p in trainer.optimizer.param_groups[0]["params"]}
    assert all(p.grad is not None for p in actor.extra.parameters())
    assert any(not torch.equal(v, extra_before[k]) for k, v in actor.extra.state_dict().items())
    assert any(not torch.equal(v, student_before[k]) for k, v in trainer.model.state_dict().items()
               if k.startswith("backbone."))


def test_each_distillation_term_sends_gradients_where_it_should(synthetic_root, family, small_distill_settings):
    trainer = Trainer(STUDENT, open_dataset(synthetic_root), small_distill_settings(), DistributedContext(),
                      objective=cmd_objective(family.path, STUDENT))
    batch = next(iter(trainer.loader(epoch=1)))
    actor, net = trainer.actor, trainer.network.train()
    teacher = actor.teacher(batch)
    assert teacher.response.shape == batch["test_label"].shape
    for name, shape in family.teacher_shapes.items():
        group, level = name.split(".")
        assert getattr(teacher, group)[level].shape == shape
    terms = actor.weighted_terms(net, batch, trainer.autocast).weighted  # the summands Eq. 14 adds
    named = {**dict(trainer.model.named_parameters()), **dict(actor.extra.named_parameters())}
    reached = {}
    for term, loss in terms.items():
        grads = torch.autograd.grad(loss, list(named.values()), retain_graph=True, allow_unused=True)
        reached[term] = {name.split(".")[0] for name, g in zip(named, grads)
                         if g is not None and bool(g.abs().sum() > 0)}
    # SCFD: the shared backbone through the ABF modules; MPSD: backbone and fusion (L_fus and L_p reach the
    # path weights); HFRD: everything up to the classifier that makes R_s. None reaches the IoU-Net.
    assert reached == {"scfd": {"backbone", "scfd"}, "mpsd": family.mpsd_reaches,
                       "hfrd": {"backbone", "fusion", "classifier"}}
    targets = [teacher.response, *teacher.rgb.values(), *teacher.tir.values(), *teacher.fused.values()]
    assert all(t.grad_fn is None for t in targets) and all(p.grad is None for p in actor.teacher.parameters())


def test_resume_continues_identically_and_checkpoints_hold_the_student_alone(synthetic_root, family, tmp_path,
                                                                            small_distill_settings):
    sequences = open_dataset(synthetic_root)

    def run(folder: str, **kwargs):
        return train(STUDENT, sequences, tmp_path / folder, small_distill_settings(), device="cpu", progress=False,
                     objective=cmd_objective(family.path, STUDENT), **kwargs)

    straight = run("straight")
    run("resumed", epochs=1)
    resumed = run("resumed", resume=True, epochs=2)
    assert [e.epoch for e in resumed.epochs] == [2]
    assert resumed.epochs[0].terms == straight.epochs[1].terms
    a = read_training_state(tmp_path / "straight" / "last.pt")
    b = read_training_state(tmp_path / "resumed" / "last.pt")
    for key in ("model", "objective_modules"):
        assert a[key].keys() == b[key].keys() and all(torch.equal(a[key][k], b[key][k]) for k in a[key])
    assert any(k.startswith("scfd.chains.rgb.") for k in a["objective_modules"])
    assert a["objective"]["kind"] == "cmd" and a["objective"]["teacher_config"] == family.config.name
    # The tracking checkpoint is the student alone (loading checks every key) and says how it was made.
    model, meta = load_checkpoint(tmp_path / "straight" / "checkpoints" / "epoch_002.pt", config=STUDENT)
    assert model.state_dict().keys() == a["model"].keys()
    assert "CMD distillation (Eq. 14: scfd, mpsd, hfrd; alpha 0.001, beta 100)" in meta["training_data"]
    assert f"from teacher '{family.config.name}'" in meta["training_data"]
    rows = read_log(tmp_path / "resumed" / "log.csv")
    assert [r["epoch"] for r in rows] == [1, 2] and rows[1]["l_hfrd"] == pytest.approx(
        straight.epochs[1].terms["l_hfrd"], rel=1e-5)
    # Another teacher (or plain training) cannot continue this run.
    torch.manual_seed(1)
    other = save_checkpoint(tmp_path / "other_teacher.pt", build_model(family.config))
    with pytest.raises(CheckpointError, match="objective"):
        train(STUDENT, sequences, tmp_path / "resumed", small_distill_settings(), device="cpu", progress=False,
              resume=True, epochs=3, objective=cmd_objective(other, STUDENT))
    with pytest.raises(InputError, match="run them with `rgbt-tracker distill"):  # the stored settings distil
        train(STUDENT, sequences, tmp_path / "resumed", small_distill_settings(distill=DistillSettings()),
              device="cpu", progress=False, resume=True, epochs=3)


def test_the_abf_width_setting_reaches_the_scfd_chains(synthetic_root, teacher_path, small_distill_settings):
    def chain_widths(abf_channels):
        settings = small_distill_settings()
        settings = settings.replace(distill=replace(settings.distill, abf_channels=abf_channels))
        actor = Trainer(STUDENT, open_dataset(synthetic_root), settings, DistributedContext(),
                        objective=cmd_objective(teacher_path, STUDENT)).actor
        return {stage.conv1[0].out_channels for chain in actor.extra["scfd"].chains.values() for stage in chain.stages}

    assert chain_widths(None) == {256}  # ReviewKD: min(512, student-tiny's deepest width)
    assert chain_widths(8) == {8}


def test_student_origin_row_through_distill_is_base_training(synthetic_root, teacher_path, tmp_path,
                                                            small_distill_settings):
    origin = small_distill_settings(epochs=1, distill=DistillSettings())
    sequences = open_dataset(synthetic_root)
    base = train(STUDENT, sequences, tmp_path / "base", origin, device="cpu", progress=False)
    distilled = train(STUDENT, sequences, tmp_path / "origin", origin, device="cpu", progress=False,
                      objective=cmd_objective(teacher_path, STUDENT))
    assert all(distilled.epochs[0].terms[k] == v for k, v in base.epochs[0].terms.items())
    assert distilled.epochs[0].terms["original"] == base.epochs[0].terms["loss"]
    a, b = base.model.state_dict(), distilled.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert "objective_modules" not in read_training_state(tmp_path / "origin" / "last.pt")


def test_bad_teachers_and_pairs_are_one_line_errors(synthetic_root, teacher_path, tmp_path, small_distill_settings):
    student_ckpt = save_checkpoint(tmp_path / "student.pt", build_model(STUDENT))
    with pytest.raises(InputError, match="holds a student .*--teacher needs a teacher"):
        cmd_objective(student_ckpt, STUDENT)
    with pytest.raises(InputError, match=r"differ in input_size \(64 vs 96\)"):
        cmd_objective(save_checkpoint(tmp_path / "t96.pt", build_model(TEACHER.replace(input_size=96))), STUDENT)
    with pytest.raises(InputError, match="distillation trains a student"):
        cmd_objective(teacher_path, TEACHER)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(teacher_path.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        cmd_objective(corrupt, STUDENT)
    with pytest.raises(CheckpointError, match="not found"):
        cmd_objective(tmp_path / "missing.pt", STUDENT)
    with pytest.raises(InputError, match="run them with `rgbt-tracker distill"):
        train(STUDENT, open_dataset(synthetic_root), tmp_path / "plain", small_distill_settings(), device="cpu",
              progress=False)


def test_sources_are_drawn_by_weight(synthetic_root, tmp_path, small_distill_settings):
    first, second = open_dataset(synthetic_root)
    settings = replace(small_distill_settings().sampler, output_size=64)

    def mixture(weights):
        sampler = SourceMixture([TrainingSource("a", [first], weights[0]),
                                 TrainingSource("b", [second], weights[1])]).sampler(settings, 8, seed=3)
        sampler.set_epoch(1)
        return sampler

    only_a = mixture((1.0, 0.0))
    assert all(torch.equal(only_a[i]["train_rgb"], only_a.samplers[0][i]["train_rgb"]) for i in range(4))
    both = mixture((1.0, 1.0))
    picked = [next(k for k in (0, 1) if torch.equal(both[i]["train_rgb"], both.samplers[k][i]["train_rgb"]))
              for i in range(8)]
    assert set(picked) == {0, 1} and len(both.sequences) == 2
    assert all(torch.equal(both[i]["test_bb"], mixture((1.0, 1.0))[i]["test_bb"]) for i in range(3))
    assert "box_weight" not in both[0]  # no box-loss weights given: DiMP's samples as they are
    boxed = SourceMixture([TrainingSource("a", [first], 1.0, box_weight=1.0),
                           TrainingSource("b", [second], 1.0, box_weight=0.0)]).sampler(settings, 8, seed=3)
    boxed.set_epoch(1)
    assert [float(boxed[i]["box_weight"][0]) for i in range(8)] == [1.0 - k for k in picked]
    assert torch.equal(boxed[0]["test_bb"], both[0]["test_bb"])  # the weight leaves the draw alone
    with pytest.raises(InputError, match="box-loss weights must be finite and >= 0"):
        SourceMixture([TrainingSource("a", [first], 1.0, box_weight=float("nan"))])
    with pytest.raises(InputError, match="not all 0"):
        SourceMixture([TrainingSource("a", [first], 0.0)])
    with pytest.raises(DatasetError, match="source a: no usable training sequence"):
        SourceMixture([TrainingSource("a", [first], 1.0)]).sampler(replace(settings, min_sequence_length=100), 2)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "manifest.json").write_text(json.dumps({
        "format": "rgbt-teacher-bundle", "version": 1, "frames": "reference",
        "sequences": {"walk": {"source": {"kind": "bag", "path": "walk"}, "complete": True, "frames": 3}},
    }))
    with pytest.raises(DatasetError, match="references a bag"):
        open_training_root(bundle)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ddp_worker(rank: int, port: int, data: str, teacher: str, settings: TrainSettings, run_dir: str,
                report_dir: str) -> None:
    """One torchrun-like process: environment variables, then the ordinary ``train`` call with the CMD objective."""
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    factory, actors = cmd_objective(teacher, STUDENT), []

    def keep_actor(model, settings, device):
        actors.append(factory(model, settings, device))
        return actors[-1]

    result = train(STUDENT, open_dataset(data), run_dir, settings, device="cpu", progress=False, objective=keep_actor)
    weights = {**{f"model.{k}": v for k, v in result.model.state_dict().items()},
               **{f"abf.{k}": v for k, v in actors[0].extra.state_dict().items()}}
    torch.save(weights, Path(report_dir, f"rank{rank}.pt"))


@pytest.mark.slow
def test_two_processes_distil_in_step(synthetic_root, teacher_path, tmp_path, small_distill_settings):
    run_dir, reports = tmp_path / "run", tmp_path / "reports"
    reports.mkdir()
    settings = small_distill_settings(epochs=1, samples_per_epoch=4, batch_size=4)  # 2 per process: IoU-Net needs 2
    mp.start_processes(_ddp_worker, args=(_free_port(), str(synthetic_root), str(teacher_path), settings,
                                          str(run_dir), str(reports)), nprocs=2, join=True, start_method="fork")
    rank0, rank1 = torch.load(reports / "rank0.pt"), torch.load(reports / "rank1.pt")
    # Student and ABF modules step with averaged gradients: equal weights (BatchNorm statistics are per process).
    trained = [k for k in rank0 if "running" not in k and "num_batches" not in k]
    assert any(k.startswith("abf.") for k in trained)
    assert all(torch.equal(rank0[k], rank1[k]) for k in trained)
    state = read_training_state(run_dir / "last.pt")
    assert all(torch.equal(state["objective_modules"][k[4:]], rank0[k]) for k in trained if k.startswith("abf."))
    assert [row["epoch"] for row in read_log(run_dir / "log.csv")] == [1]

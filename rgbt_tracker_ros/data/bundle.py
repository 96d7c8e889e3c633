"""The teacher-output bundle: what the frozen CMD teacher produced on unlabelled recordings.

Written by ``rgbt-tracker label`` (bags or sequence folders) and by the teacher node (live
topics); read by distillation training. Layout (format ``rgbt-teacher-bundle`` version 1)::

    BUNDLE/
      manifest.json                 format, teacher (checkpoint, sha256), frame mode, chunk size,
                                    stored feature keys, file descriptions, and per sequence:
                                    source, init box and where it came from, frames, complete,
                                    resumed_at
      <sequence>/
        visible/v000001.jpg ...     frames (mode "images"): LasHeR layout, RGB as JPEG (quality 95),
        infrared/i000001.png ...    thermal lossless with its own dtype (8/16-bit PNG; float32 TIFF)
        visible.txt, infrared.txt   teacher boxes "x,y,w,h" per frame, 0,0,0,0 where the teacher
                                    is LOST (LasHeR's absent-target mark, so training skips them);
                                    written when the sequence completes
        teacher/chunk_000000.npz    per-frame arrays of ``chunk_size`` frames (see TeacherLabels)
        teacher/features_000000.npz optional fp16 teacher features of the same frames
        teacher_detections/         rosbag2 (version 8) of vision_msgs/Detection2DArray on
                                    /teacher/detections, for inspection in rviz / ros2 bag play

With frames in mode ``images`` a completed sequence folder *is* a LasHeR-format sequence whose
ground truth is the teacher's boxes (``data.datasets.open_sequence``), so the DiMP training
sampler reads it directly. Mode ``reference`` copies no frames: the npz holds the source frame
numbers and stamps, and :func:`sequence_frames` / :func:`iter_reference_pairs` read them from the
source folder or bag.

Why features are optional (our decision): SCFD (Eq. 1-3) and MPSD (Eq. 7-11) compare teacher and
student features *of the same search crop*, and distillation training samples new jittered crops
every epoch, so stored features only match the crop the teacher tracked on. The teacher is
frozen during distillation, so running it on the training crops reproduces its features
exactly, at the cost of one teacher forward pass per sample; storing them costs megabytes per
frame (a ResNet50 ``stem`` level alone is 64x144x144 values per modality). Features can be stored
(``feature_keys``, fp16) for experiments on the tracked crops. The response maps are small and
are stored: HFRD (Eq. 12-13) uses the teacher response R_t; ``search_boxes`` gives the image
region each map covers, so a trainer can resample R_t into its own crop.

Resume: chunks are written atomically; a restarted run keeps the complete chunks, re-initialises
the teacher on the last stored frame with its stored box (recorded in ``resumed_at``) and
continues; the box files and the detections bag are rewritten when the sequence completes.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Union

import numpy as np

from rgbt_tracker_ros.atomic_files import write_bytes_atomic
from rgbt_tracker_ros.data.frames import FramePair
from rgbt_tracker_ros.errors import DatasetError, InputError
from rgbt_tracker_ros.evaluation.benchmark import format_rows
from rgbt_tracker_ros.tracking.base import TrackResult, TrackState

PathLike = Union[str, Path]

FORMAT = "rgbt-teacher-bundle"
VERSION = 1
MANIFEST = "manifest.json"
FRAME_MODES = ("images", "reference")
#: ``states`` codes of the npz arrays.
STATE_NAMES = (TrackState.TRACKING.value, TrackState.UNCERTAIN.value, TrackState.LOST.value)
#: Topic of the inspection bag.
DETECTIONS_TOPIC = "/teacher/detections"
#: Stamp spacing for sources without stamps (sequence folders): 30 frames per second.
SEQUENCE_FRAME_PERIOD_NS = 33_333_333
JPEG_QUALITY = 95
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_FEATURE_GROUPS = ("rgb", "tir", "fused")

FILE_DESCRIPTIONS = {
    "visible/, infrared/": "frames in LasHeR layout (mode images): v%06d.jpg RGB, i%06d.png|tiff raw thermal",
    "visible.txt, infrared.txt": "teacher box x,y,w,h per frame; 0,0,0,0 where the teacher state is lost",
    "teacher/chunk_*.npz": (
        "source_index, stamps_ns (-1: none), boxes (N,4) x,y,w,h, scores, states (codes of state_names), "
        "flags (DiMP localisation flag), search_boxes (N,4) image region of each response map, "
        "responses (N,h,w) float16 teacher score maps R_t, gt (N,4) source ground truth or NaN, "
        "path_weights.<level> (N,3) teacher FRS weights"
    ),
    "teacher/features_*.npz": "optional: <group>.<level> (N,C,H,W) float16 teacher features of the tracked search crop",
    "teacher_detections/": f"rosbag2 v8, vision_msgs/Detection2DArray on {DETECTIONS_TOPIC}",
}


@dataclass
class TeacherLabels:
    """The teacher's per-frame output for one sequence (arrays of length N, bundle frame order)."""

    source_index: np.ndarray
    stamps_ns: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    states: np.ndarray
    flags: np.ndarray
    search_boxes: np.ndarray
    responses: np.ndarray
    gt: np.ndarray
    path_weights: dict[str, np.ndarray] = field(default_factory=dict)
    features: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.boxes)

    def valid(self) -> np.ndarray:
        """Frames where the teacher was not lost (the frames usable as pseudo ground truth)."""
        return self.states != STATE_NAMES.index(TrackState.LOST.value)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _write_json(path: Path, data: dict) -> None:
    write_bytes_atomic(path, lambda f: f.write(json.dumps(data, indent=2, sort_keys=False).encode()))


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    write_bytes_atomic(path, lambda f: np.savez_compressed(f, **arrays), suffix=".npz")


def file_sha256(path: PathLike) -> str:
    """SHA-256 of a file (identifies the teacher checkpoint in the manifest)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(root: PathLike) -> dict:
    """The bundle's manifest; :class:`DatasetError` if ``root`` is not a teacher bundle."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise DatasetError(f"{root} is not a teacher bundle: {MANIFEST} is missing")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DatasetError(f"{path} is not readable JSON: {err}") from err
    if manifest.get("format") != FORMAT:
        raise DatasetError(f"{path}: format is {manifest.get('format')!r}, expected {FORMAT!r}")
    if int(manifest.get("version", 0)) > VERSION:
        raise DatasetError(f"{path}: bundle version {manifest.get('version')} is newer than this reader ({VERSION})")
    return manifest


def feature_arrays(features: Any, keys: Iterable[str]) -> dict[str, np.ndarray]:
    """``{"<group>.<level>": (C,H,W) float16}`` from a ``FusionFeatures`` of batch size 1.

    ``keys`` are ``group.level`` names (groups ``rgb``, ``tir``, ``fused``) or ``"all"``.
    """
    keys = list(keys)
    if not keys:
        return {}
    available = {
        f"{group}.{level}": tensor
        for group in _FEATURE_GROUPS
        for level, tensor in (getattr(features, group, None) or {}).items()
    }
    wanted = sorted(available) if keys == ["all"] else keys
    missing = [key for key in wanted if key not in available]
    if missing:
        raise InputError(f"teacher features have no {', '.join(missing)}; available: {', '.join(sorted(available))}")
    return {key: available[key][0].detach().float().cpu().numpy().astype(np.float16) for key in wanted}


class SequenceWriter:
    """Appends the teacher's output frame by frame to one sequence of a bundle (see the module docstring).

    Attributes:
        next_index: bundle frames already stored (0 for a new sequence).
        resume_box / resume_source_index: the last stored frame's box and source frame number
            when resuming (the caller re-initialises the teacher there), else ``None``.
    """

    def __init__(self, bundle: "BundleWriter", name: str, entry: dict) -> None:
        self.bundle, self.name, self.entry = bundle, name, entry
        self.path = bundle.root / name
        self._rows: list[dict[str, Any]] = []
        self._features: list[dict[str, np.ndarray]] = []
        self.next_index = 0
        self.resume_box: Optional[np.ndarray] = None
        self.resume_source_index: Optional[int] = None
        chunks = _chunk_files(bundle.root, name)
        if chunks and not self.complete:
            chunks = self._full_chunk_prefix(chunks)
        if chunks:
            labels = load_labels(bundle.root, name, chunks=chunks)
            self.next_index = len(labels)
            if not self.complete:
                self.resume_box = labels.boxes[-1]
                self.resume_source_index = int(labels.source_index[-1])
        if not self.complete:
            self._remove_frames_from(self.next_index)

    def _full_chunk_prefix(self, chunks: list[Path]) -> list[Path]:
        """The leading chunks numbered 0, 1, ... that hold ``chunk_size`` frames (a resume keeps only these)."""
        kept = []
        for number, path in enumerate(chunks):
            if path.name != f"chunk_{number:06d}.npz":
                break
            with np.load(path, allow_pickle=False) as data:
                if len(data["boxes"]) != self.bundle.chunk_size:
                    break
            kept.append(path)
        return kept

    @property
    def complete(self) -> bool:
        return bool(self.entry.get("complete"))

    def mark_resumed(self) -> None:
        """Record that the teacher was re-initialised on the last stored frame."""
        self.entry.setdefault("resumed_at", []).append(self.next_index - 1)
        self.bundle.save_manifest()

    def add(
        self,
        pair: FramePair,
        result: TrackResult,
        response: np.ndarray,
        search_box: np.ndarray,
        source_index: int,
        stamp_ns: Optional[int] = None,
        features: Any = None,
        flag: str = "",
    ) -> None:
        """Store one frame: its images (mode ``images``) and the teacher's result, response map and features.

        ``flag`` is DiMP's localisation flag (``normal``, ``hard_negative``, ``uncertain``, ``not_found``, ``init``).
        """
        if response is None or search_box is None:
            raise InputError("the teacher tracker exposes no response map (last_response); use a DiMP teacher")
        index = self.next_index
        if self.bundle.frames == "images":
            self._write_images(index, pair)
        state = TrackState(result.state).value
        gt = pair.gt_rgb if pair.gt_rgb is not None else np.full(4, np.nan)
        self._rows.append(
            {
                "source_index": int(source_index),
                "stamps_ns": -1 if stamp_ns is None else int(stamp_ns),
                "boxes": np.asarray(result.box, dtype=np.float64).reshape(4),
                "scores": np.float32(result.score),
                "states": np.uint8(STATE_NAMES.index(state)),
                "flags": str(flag or ""),
                "search_boxes": np.asarray(search_box, dtype=np.float64).reshape(4),
                "responses": np.asarray(response, dtype=np.float16),
                "gt": np.asarray(gt, dtype=np.float64).reshape(4),
                **{
                    f"path_weights.{level}": np.asarray(weights, dtype=np.float32)
                    for level, weights in result.fusion_weights.items()
                },
            }
        )
        if self.bundle.feature_keys:
            self._features.append(feature_arrays(features, self.bundle.feature_keys))
        self.next_index += 1
        if len(self._rows) >= self.bundle.chunk_size:
            self._flush()

    def close(self, source_summary: Optional[dict] = None) -> TeacherLabels:
        """Write the last chunk, the box files and the detections bag; mark the sequence complete."""
        self._flush()
        labels = load_labels(self.bundle.root, self.name)
        self._write_box_files(labels)
        write_detections_bag(self.path / "teacher_detections", labels)
        self.entry.update(complete=True, frames=len(labels))
        if source_summary:
            self.entry["source"].update(source_summary)
        self.bundle.save_manifest()
        return labels

    def _flush(self) -> None:
        if not self._rows:
            return
        chunk = (self.next_index - len(self._rows)) // self.bundle.chunk_size
        keys = self._rows[0].keys()
        if any(row.keys() != keys for row in self._rows):
            raise InputError(f"sequence {self.name}: the teacher's fusion levels changed between frames")
        arrays = {key: np.stack([row[key] for row in self._rows]) for key in keys}
        if self._features:
            _write_npz(
                self.path / "teacher" / f"features_{chunk:06d}.npz",
                {key: np.stack([f[key] for f in self._features]) for key in self._features[0]},
            )
        _write_npz(self.path / "teacher" / f"chunk_{chunk:06d}.npz", arrays)
        self._rows, self._features = [], []
        self.entry["frames"] = self.next_index
        self.bundle.save_manifest()

    def _write_images(self, index: int, pair: FramePair) -> None:
        import cv2

        visible = self.path / "visible" / f"v{index + 1:06d}.jpg"
        suffix = ".tiff" if pair.thermal.dtype == np.float32 else ".png"
        infrared = self.path / "infrared" / f"i{index + 1:06d}{suffix}"
        visible.parent.mkdir(parents=True, exist_ok=True)
        infrared.parent.mkdir(parents=True, exist_ok=True)
        bgr = cv2.cvtColor(pair.rgb, cv2.COLOR_RGB2BGR)
        if not cv2.imwrite(str(visible), bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
            raise DatasetError(f"cannot write {visible}")
        if not cv2.imwrite(str(infrared), pair.thermal):
            raise DatasetError(f"cannot write {infrared}")

    def _remove_frames_from(self, index: int) -> None:
        """Delete frame images at bundle index >= ``index`` (left by an interrupted run)."""
        for folder, prefix in (("visible", "v"), ("infrared", "i")):
            for path in (self.path / folder).glob(f"{prefix}*.*"):
                number = re.fullmatch(rf"{prefix}(\d+)", path.stem)
                if number and int(number.group(1)) - 1 >= index:
                    path.unlink()
        for pattern in ("chunk_*.npz", "features_*.npz"):
            for path in (self.path / "teacher").glob(pattern):
                if int(path.stem.split("_")[1]) * self.bundle.chunk_size >= index:
                    path.unlink()

    def _write_box_files(self, labels: TeacherLabels) -> None:
        boxes = np.where(labels.valid()[:, None], labels.boxes, 0.0)
        text = format_rows(boxes)
        for name in ("visible.txt", "infrared.txt"):
            write_bytes_atomic(self.path / name, lambda f: f.write(text.encode()))


class BundleWriter:
    """Creates or resumes a teacher bundle at ``root``.

    Args:
        teacher: description of the teacher (``checkpoint`` path, ``sha256``, ``name``, ...);
            a resumed bundle must have been written by the same checkpoint.
        frames: ``"images"`` (copy frames, LasHeR layout) or ``"reference"`` (no copies).
        chunk_size: frames per npz chunk (the unit of resumption).
        feature_keys: teacher features to store (``group.level`` names or ``["all"]``).
        resume: continue an existing bundle; without it an existing bundle is an error.
    """

    def __init__(
        self,
        root: PathLike,
        teacher: dict,
        frames: str = "images",
        chunk_size: int = 100,
        feature_keys: Iterable[str] = (),
        resume: bool = False,
    ) -> None:
        if frames not in FRAME_MODES:
            raise InputError(f"frame mode must be one of {', '.join(FRAME_MODES)}, got {frames!r}")
        if int(chunk_size) < 1:
            raise InputError(f"chunk size must be >= 1, got {chunk_size}")
        self.root = Path(root)
        if (self.root / MANIFEST).is_file():
            if not resume:
                raise InputError(f"{self.root} already holds a teacher bundle; pass --resume to continue it")
            self.manifest = read_manifest(self.root)
            self._check_compatible(teacher, frames)
        else:
            if self.root.exists() and (not self.root.is_dir() or any(self.root.iterdir())):
                raise InputError(f"output folder {self.root} exists and is not an empty folder or a teacher bundle")
            self.manifest = {
                "format": FORMAT,
                "version": VERSION,
                "created": _now(),
                "teacher": dict(teacher),
                "frames": frames,
                "chunk_size": int(chunk_size),
                "feature_keys": list(feature_keys),
                "state_names": list(STATE_NAMES),
                "files": FILE_DESCRIPTIONS,
                "sequences": {},
            }
            self.root.mkdir(parents=True, exist_ok=True)
            self.save_manifest()

    @property
    def frames(self) -> str:
        return self.manifest["frames"]

    @property
    def chunk_size(self) -> int:
        return int(self.manifest["chunk_size"])

    @property
    def feature_keys(self) -> list[str]:
        return list(self.manifest["feature_keys"])

    def _check_compatible(self, teacher: dict, frames: str) -> None:
        stored = self.manifest["teacher"]
        if stored.get("sha256") and teacher.get("sha256") and stored["sha256"] != teacher["sha256"]:
            raise InputError(
                f"{self.root} was written by teacher {stored.get('checkpoint')} (sha256 {stored['sha256'][:12]}...); "
                f"resuming with a different checkpoint would mix labels"
            )
        if self.manifest["frames"] != frames:
            raise InputError(f"{self.root} stores frames as {self.manifest['frames']!r}, not {frames!r}")

    def save_manifest(self) -> None:
        self.manifest["updated"] = _now()
        _write_json(self.root / MANIFEST, self.manifest)

    def sequence(self, name: str, source: dict, init: Optional[dict] = None) -> SequenceWriter:
        """The writer of sequence ``name`` (created, or reopened to resume). Check ``.complete`` first."""
        if not _NAME.match(name):
            raise InputError(f"sequence name {name!r} must be letters, digits, '.', '_' or '-'")
        entries = self.manifest["sequences"]
        if name not in entries:
            entries[name] = {"source": dict(source), "init": init or {}, "frames": 0, "complete": False}
            self.save_manifest()
        return SequenceWriter(self, name, entries[name])


def _chunk_files(root: Path, name: str) -> list[Path]:
    return sorted((root / name / "teacher").glob("chunk_*.npz"))


def load_labels(
    root: PathLike, name: str, with_features: bool = False, chunks: Optional[list[Path]] = None
) -> TeacherLabels:
    """The teacher's per-frame arrays of sequence ``name`` (chunks concatenated)."""
    root = Path(root)
    chunks = chunks if chunks is not None else _chunk_files(root, name)
    if not chunks:
        raise DatasetError(f"bundle {root}: sequence {name} has no teacher data")
    parts: dict[str, list[np.ndarray]] = {}
    features: dict[str, list[np.ndarray]] = {}
    for path in chunks:
        with np.load(path, allow_pickle=False) as data:
            for key in data.files:
                parts.setdefault(key, []).append(data[key])
        feature_path = path.with_name(path.name.replace("chunk_", "features_"))
        if with_features and feature_path.is_file():
            with np.load(feature_path, allow_pickle=False) as data:
                for key in data.files:
                    features.setdefault(key, []).append(data[key])
    arrays = {key: np.concatenate(values) for key, values in parts.items()}
    return TeacherLabels(
        **{key: arrays.pop(key) for key in list(arrays) if not key.startswith("path_weights.")},
        path_weights={key.split(".", 1)[1]: value for key, value in arrays.items()},
        features={key: np.concatenate(values) for key, values in features.items()},
    )


def sequence_frames(root: PathLike, name: str):
    """Random-access frames of a bundle sequence whose ground truth is the teacher's boxes.

    Mode ``images``: the sequence folder itself, read as LasHeR (``data.datasets.open_sequence``).
    Mode ``reference`` with a sequence-folder source: the source sequence restricted to the
    labelled frames, with the teacher boxes as ground truth. Bag sources are read in order with
    :func:`iter_reference_pairs`.
    """
    from rgbt_tracker_ros.data.datasets import open_sequence

    root = Path(root)
    manifest = read_manifest(root)
    entry = manifest["sequences"].get(name)
    if entry is None or not entry.get("complete"):
        raise DatasetError(f"bundle {root}: sequence {name} is missing or incomplete")
    if manifest["frames"] == "images":
        return open_sequence(root / name, layout="lasher")
    source = entry["source"]
    if source.get("kind") != "sequence":
        raise DatasetError(f"bundle {root}: sequence {name} references a bag; read it with iter_reference_pairs")
    labels = load_labels(root, name)
    base = open_sequence(source["path"], layout=source.get("layout", "auto"))
    boxes = np.where(labels.valid()[:, None], labels.boxes, 0.0)
    base.rgb_frames = [base.rgb_frames[i] for i in labels.source_index]
    base.thermal_frames = [base.thermal_frames[i] for i in labels.source_index]
    base.gt_rgb, base.gt_thermal = boxes, boxes.copy()
    base.attributes = {key: flags[labels.source_index] for key, flags in base.attributes.items()}
    return base


def iter_reference_pairs(root: PathLike, name: str) -> Iterator[FramePair]:
    """The labelled frame pairs of a bag-referenced sequence, in order, with the teacher box as ``gt_rgb``."""
    from rgbt_tracker_ros.data.bags import BagPairReader

    manifest = read_manifest(root)
    source = manifest["sequences"][name]["source"]
    labels = load_labels(root, name)
    wanted = {int(s): i for i, s in enumerate(labels.source_index)}
    reader = BagPairReader(
        source["path"], source["rgb_topic"], source["thermal_topic"], None, source["queue_size"], source["slop"]
    )
    valid = labels.valid()
    for pair in reader:
        row = wanted.get(pair.index)
        if row is not None:
            teacher_box = labels.boxes[row] if valid[row] else np.zeros(4)
            pair.gt_rgb, pair.gt_thermal = teacher_box.copy(), teacher_box.copy()
            yield pair


def write_detections_bag(path: Path, labels: TeacherLabels) -> None:
    """A rosbag2 (version 8, plays on Humble and Jazzy) of the teacher's detections, replacing ``path``."""
    from rosbags.rosbag2 import Writer

    from rgbt_tracker_ros.data.rosmsgs import DETECTION_2D_ARRAY, typestore
    from rgbt_tracker_ros.data.topics import RGB_FRAME_ID
    from rgbt_tracker_ros.node.messages import MessageTypes, make_header, tracking_output

    types, store = MessageTypes.from_rosbags(), typestore()
    if path.exists():
        shutil.rmtree(path)
    valid = labels.valid()
    writer = Writer(path, version=8)
    writer.open()
    try:
        connection = writer.add_connection(DETECTIONS_TOPIC, DETECTION_2D_ARRAY, typestore=store)
        for row in range(len(labels)):
            stamp = int(labels.stamps_ns[row])
            if stamp < 0:
                stamp = int(labels.source_index[row]) * SEQUENCE_FRAME_PERIOD_NS
            box = labels.boxes[row] if valid[row] else None
            header = make_header(types, stamp, RGB_FRAME_ID)
            message = tracking_output(header, box, float(labels.scores[row]), "1", types)
            writer.write(connection, stamp, store.serialize_cdr(message, DETECTION_2D_ARRAY))
    finally:
        writer.close()

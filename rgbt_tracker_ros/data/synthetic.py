"""Synthetic RGB-T tracking sequences with controllable challenge attributes.

The paper trains and evaluates on LasHeR, RGBT234 and GTOT; this generator is our design (the paper
has none) for tests, demos and smoke-training without the real data sets. A sequence is fully
determined by its :class:`ScenarioSpec` (same seed and same numpy/OpenCV versions give identical
arrays), and the random draws of each part of the scene (background, target, path, each attribute)
come from separate seeded streams, so the same seed with different attributes shows the same scene.

Scenario families (:data:`FAMILIES`): ``basic``, described here (one blob-like target on an abstract
background, 320x256 by default), and ``drone``, full-HD views from above of vehicles in lanes or
people on a square among many look-alikes, by day or night (:mod:`rgbt_tracker_ros.data.synthetic_drone`).
Each family has its own attribute vocabulary (:data:`FAMILY_ATTRIBUTES`), defaults and fixed sets, and
every frame of a family-``F`` sequence carries the flag ``family_F`` (:func:`family_flag`), so that
evaluation reports can group sequences by family.

Scene model (``basic``). A world canvas (the image plus a margin) holds a textured RGB background and a matching
thermal background (ambient ~7000-8000 counts, smooth structure, warm/cool shapes). The target is a
coloured, patterned blob in RGB and a warm signature (+1000..2500 counts with a hot spot) in thermal,
moving on a smooth random path that reflects at the image borders. Each modality's image is a
window onto the world at ``margin + camera shake`` (thermal also ``+ misalignment``); sensor effects
(RGB noise, low-light gain, thermal temporal and fixed-pattern noise) are applied last.
Thermal frames are ``uint16`` radiometric-like counts.

Challenge attributes (:data:`ATTRIBUTES`, named after the RGBT234/LasHeR attributes) and the
per-frame flag each sets in ``FramePair.attributes``:

- ``low_illumination``: RGB gain 0.12-0.22, partial desaturation and noise sigma 4-7; thermal
  unchanged. Flag: every frame.
- ``thermal_crossover``: the target's heat ramps down to 0-5 % of its contrast for ~20 % of the
  frames (the target then emits the mean background level under it). Flag: heat factor < 0.5.
- ``partial_occlusion``: a pole (width 35 % of the target's smallest width) across the path,
  perpendicular to the motion. ``full_occlusion``: a block covering the union of the target's boxes
  over a window of ~12 % of the frames. Both occlude both modalities. Flags from the occluded
  fraction f of the target's mask: partial for 0.1 <= f < 1, full for f = 1. The ground truth of a
  hidden target stays its true (hidden) box.
- ``distractor``: an object of similar colour, pattern, size and heat crossing 0.8-1.3 target sizes
  from the target, behind it. Flag: centre distance < 2 target sizes while in view.
- ``scale_change``: the target size changes geometrically by a factor 2.2-3 (growing or shrinking).
  Flag: sqrt(area ratio) to the first frame outside [1/1.5, 1.5].
- ``fast_motion``: two bursts (~12 % of the frames each) at 24-30 px/frame. Flag: centre
  displacement > 20 px, RGBT234's definition.
- ``camera_shake``: independent per-frame global jitter (sigma 1.5 % of the short side) of both
  images. Flag: every frame.
- ``misalignment``: the thermal window is shifted by 1.2-2.5 % of the short side (at least 2 px),
  so the infrared ground truth is the visible one minus that shift (as in RGBT234). Flag: every frame.

Stamps: RGB at ``1/fps`` with ~1.5 % jitter; thermal offset by 6-24 % of a period with ~3 % jitter
(two free-running cameras); microsecond resolution, so they survive float seconds exactly.

Seeds: :func:`make_specs` (training/demo data, every family) uses seeds below
:data:`BENCHMARK_SEED_BASE`; :func:`benchmark_specs` (the fixed synthetic test sets) uses seeds from it
upwards for ``basic`` and from :data:`DRONE_BENCHMARK_SEED_BASE` for ``drone``, and
:func:`validation_specs` (the same attribute sets, for tuning) from :data:`VALIDATION_SEED_BASE` and
:data:`DRONE_VALIDATION_SEED_BASE`: four disjoint ranges.
"""
from __future__ import annotations

import colorsys
import dataclasses
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Iterator, Optional, Sequence, Union

import cv2
import numpy as np

from rgbt_tracker_ros.data.frames import FramePair
from rgbt_tracker_ros.errors import InputError

if TYPE_CHECKING:
    from rgbt_tracker_ros.data.synthetic_drone import DronePlan

#: The challenge attributes of the ``basic`` family, in canonical order; also the per-frame flags of
#: every family.
ATTRIBUTES: tuple[str, ...] = (
    "low_illumination",
    "thermal_crossover",
    "partial_occlusion",
    "full_occlusion",
    "distractor",
    "scale_change",
    "fast_motion",
    "camera_shake",
    "misalignment",
)
#: Challenge attributes of the ``drone`` family: people on a square instead of vehicles in lanes,
#: night, a few pixels of RGB/thermal misregistration.
DRONE_ATTRIBUTES: tuple[str, ...] = ("pedestrians", "night", "misalignment")
FAMILIES: tuple[str, ...] = ("basic", "drone")
FAMILY_ATTRIBUTES: dict[str, tuple[str, ...]] = {"basic": ATTRIBUTES, "drone": DRONE_ATTRIBUTES}
#: Per-frame flag naming a sequence's family: ``family_basic``, ``family_drone``.
FAMILY_FLAG_PREFIX = "family_"
#: Name of the attribute-free set in attribute lists and sequence names.
CLEAR = "clear"
#: Benchmark sequences use seeds >= this; training/demo seeds (every family) stay below it.
BENCHMARK_SEED_BASE = 100_000
VALIDATION_SEED_BASE = 200_000
DRONE_BENCHMARK_SEED_BASE = 300_000
DRONE_VALIDATION_SEED_BASE = 400_000
#: Most repeats of a validation set: keeps every range below the next one (basic: 18 x 100 seeds).
MAX_VALIDATION_REPEATS = 100
DEFAULT_SIZE = (320, 256)
DEFAULT_FRAMES = 100
#: Defaults of the drone family: full HD, 10 s at 30 Hz (long enough for look-alikes to pass the target).
DRONE_SIZE = (1920, 1080)
DRONE_FRAMES = 300
#: Look-alikes of a drone scene when a spec gives none; the most a spec may ask for.
DRONE_LOOKALIKES = 20
MAX_LOOKALIKES = 100
DEFAULT_FPS = 30.0
#: First RGB stamp (2023-11-14T22:13:20Z): epoch-scale stamps like a real recording.
DEFAULT_START_NS = 1_700_000_000 * 1_000_000_000
MIN_SIDE, MAX_SIDE = 64, 4096
MAX_FPS = 1000.0

#: Per-frame flag thresholds (see the module docstring).
FAST_MOTION_PX = 20.0
SCALE_CHANGE_RATIO = 1.5
PARTIAL_OCCLUSION_MIN = 0.1
CROSSOVER_HEAT = 0.5
DISTRACTOR_NEAR = 2.0

#: Sensor noise: RGB sigma (8-bit levels) in normal light; thermal temporal sigma and fixed-pattern
#: column/row sigmas (counts).
RGB_NOISE = 1.5
THERMAL_NOISE = 18.0
THERMAL_COLUMN_FPN, THERMAL_ROW_FPN = 8.0, 4.0

_STREAMS = {
    name: number
    for number, name in enumerate(
        (
            "scene", "target", "path", "scale", "fast", "distractor", "occlusion", "crossover",
            "shake", "misalignment", "stamps", "sensor", "combine", "light",
            "drone_layout", "drone_objects", "drone_camera", "drone_night", "drone_sensor", "lookalikes",
            "drone_difficulty",
        )
    )
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")

# The fixed synthetic benchmark: clear, each attribute alone, and eight combinations.
_BENCHMARK_SETS: tuple[tuple[str, ...], ...] = (
    ((),)
    + tuple((name,) for name in ATTRIBUTES)
    + (
        ("low_illumination", "distractor"),
        ("thermal_crossover", "distractor"),
        ("partial_occlusion", "scale_change"),
        ("full_occlusion", "camera_shake"),
        ("fast_motion", "camera_shake"),
        ("scale_change", "misalignment"),
        ("low_illumination", "fast_motion", "misalignment"),
        ("thermal_crossover", "partial_occlusion", "distractor"),
    )
)
# The fixed drone sets: vehicles and pedestrians, each by day and night, registered and not
# (attributes, look-alike count). Three rounds of the eight combinations: the first with 15 or 35
# vehicles and 20 or 50 people, the second with the counts swapped (so each combination has both few
# and many look-alikes), the third with 25 vehicles and 35 people.
_DRONE_COMBINATIONS: tuple[tuple[str, ...], ...] = (
    (),
    ("night",),
    ("misalignment",),
    ("night", "misalignment"),
    ("pedestrians",),
    ("pedestrians", "night"),
    ("pedestrians", "misalignment"),
    ("pedestrians", "night", "misalignment"),
)
_DRONE_LOOKALIKE_ROUNDS: tuple[tuple[int, ...], ...] = (
    (15, 35, 35, 15, 20, 50, 50, 20),
    (35, 15, 15, 35, 50, 20, 20, 50),
    (25, 25, 25, 25, 35, 35, 35, 35),
)
_DRONE_BENCHMARK_SETS: tuple[tuple[tuple[str, ...], int], ...] = tuple(
    (attributes, lookalikes)
    for counts in _DRONE_LOOKALIKE_ROUNDS
    for attributes, lookalikes in zip(_DRONE_COMBINATIONS, counts)
)


def _rng(seed: int, stream: str, *extra: int) -> np.random.Generator:
    """An independent generator per (seed, part of the scene[, frame])."""
    return np.random.default_rng([seed, _STREAMS[stream], *extra])


def check_family(family: str) -> str:
    """``family`` if it is one of :data:`FAMILIES`; raises :class:`InputError` otherwise."""
    if family not in FAMILIES:
        raise InputError(f"unknown scenario family {family!r}; choose from {', '.join(FAMILIES)}")
    return family


def family_flag(family: str) -> str:
    """The per-frame flag every frame of a ``family`` sequence carries, e.g. ``family_drone``."""
    return FAMILY_FLAG_PREFIX + check_family(family)


def normalize_attributes(names: Iterable[str], family: str = "basic") -> tuple[str, ...]:
    """``names`` deduplicated in the family's vocabulary order (:data:`FAMILY_ATTRIBUTES`);
    ``"clear"`` is ignored.

    Raises :class:`InputError` naming an unknown attribute and listing the family's valid ones.
    """
    vocabulary = FAMILY_ATTRIBUTES[check_family(family)]
    if isinstance(names, str):
        names = (names,)
    wanted = set()
    for name in names:
        name = str(name).strip()
        if name == CLEAR:
            continue
        if name not in vocabulary:
            scope = "" if family == "basic" else f" of the {family} family"
            raise InputError(f"unknown attribute {name!r}{scope}; choose from {', '.join(vocabulary)} or {CLEAR!r}")
        wanted.add(name)
    return tuple(name for name in vocabulary if name in wanted)


def parse_attribute_sets(
    sets: Union[str, Sequence[Union[str, Sequence[str]]]], family: str = "basic"
) -> list[tuple[str, ...]]:
    """Attribute sets from ``"a,b+c,clear"`` (comma: one set per sequence; ``+``: combined), in the
    vocabulary of ``family``.

    A list may hold such strings or collections of names. Raises :class:`InputError` for unknown
    names or an empty list.
    """
    entries = sets.split(",") if isinstance(sets, str) else list(sets)
    parsed = []
    for entry in entries:
        names = entry.split("+") if isinstance(entry, str) else list(entry)
        if isinstance(entry, str) and not entry.strip():
            raise InputError(f"empty entry in attribute list {sets!r}")
        parsed.append(normalize_attributes(names, family))
    if not parsed:
        raise InputError("the attribute list is empty")
    return parsed


def sequence_name(prefix: str, seed: int, attributes: Sequence[str], lookalikes: int = 0) -> str:
    """``<prefix><seed:06d>_<attr-attr...|clear>[_<n>lookalikes]``, e.g. ``synth000004_distractor``
    or ``drone000003_night_24lookalikes`` (drone scenes name their look-alike count)."""
    name = f"{prefix}{seed:06d}_{'-'.join(attributes) or CLEAR}"
    return f"{name}_{lookalikes}lookalikes" if lookalikes else name


@dataclass(frozen=True)
class ScenarioSpec:
    """Everything that determines a synthetic sequence.

    Attributes:
        name: sequence (folder) name: letters, digits, ``_ . + -``.
        seed: non-negative random seed.
        frames: number of frames (>= 2).
        width / height: image size in pixels (64..4096).
        attributes: challenge attributes of the family (normalised to its vocabulary's order).
        fps: nominal frame rate of both cameras.
        start_ns: nominal stamp of the first frame in nanoseconds.
        family: scenario family (:data:`FAMILIES`).
        lookalikes: moving look-alikes of the target in a drone scene (1..:data:`MAX_LOOKALIKES`,
            default :data:`DRONE_LOOKALIKES`); always 0 for ``basic`` (its one look-alike is the
            ``distractor`` attribute).
    """

    name: str
    seed: int
    frames: int = DEFAULT_FRAMES
    width: int = DEFAULT_SIZE[0]
    height: int = DEFAULT_SIZE[1]
    attributes: tuple[str, ...] = ()
    fps: float = DEFAULT_FPS
    start_ns: int = DEFAULT_START_NS
    family: str = "basic"
    lookalikes: Optional[int] = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise InputError(f"sequence name {self.name!r} must be letters, digits and _ . + - only")
        for field_name in ("seed", "frames", "width", "height", "start_ns"):
            value = getattr(self, field_name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise InputError(f"{field_name} must be an integer, got {value!r}")
            object.__setattr__(self, field_name, int(value))
        if self.seed < 0:
            raise InputError(f"seed must be >= 0, got {self.seed}")
        if self.frames < 2:
            raise InputError(f"a sequence needs at least 2 frames, got {self.frames}")
        if not (MIN_SIDE <= self.width <= MAX_SIDE and MIN_SIDE <= self.height <= MAX_SIDE):
            raise InputError(
                f"image size {self.width}x{self.height} is out of range: each side must be {MIN_SIDE}..{MAX_SIDE} px"
            )
        if not (isinstance(self.fps, (int, float)) and math.isfinite(self.fps) and 0 < self.fps <= MAX_FPS):
            raise InputError(f"fps must be in (0, {MAX_FPS:g}], got {self.fps!r}")
        if self.start_ns < 0:
            raise InputError(f"start_ns must be >= 0, got {self.start_ns}")
        object.__setattr__(self, "fps", float(self.fps))
        object.__setattr__(self, "attributes", normalize_attributes(self.attributes, self.family))
        object.__setattr__(self, "lookalikes", self._checked_lookalikes())

    def _checked_lookalikes(self) -> int:
        value = self.lookalikes
        if self.family == "basic":
            if value not in (None, 0):
                raise InputError(f"lookalikes is for drone scenes; a basic scene has 0 (got {value!r})")
            return 0
        if value is None:
            return DRONE_LOOKALIKES
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= MAX_LOOKALIKES:
            raise InputError(f"lookalikes must be an integer in 1..{MAX_LOOKALIKES}, got {value!r}")
        return int(value)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``."""
        return self.width, self.height

    def to_dict(self) -> dict:
        """A JSON-ready dict (``attributes`` as a list)."""
        data = dataclasses.asdict(self)
        data["attributes"] = list(self.attributes)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "ScenarioSpec":
        """Inverse of :meth:`to_dict` (a dict without ``family``, written before families existed,
        is a ``basic`` spec); unknown keys raise :class:`InputError`."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"unknown scenario fields {unknown}; expected {sorted(known)}")
        values = dict(data)
        values["attributes"] = tuple(values.get("attributes", ()))
        return cls(**values)


def make_specs(
    n: int,
    seed: int = 0,
    frames: Optional[int] = None,
    attributes: Optional[Union[str, Sequence[Union[str, Sequence[str]]]]] = None,
    size: Optional[tuple[int, int]] = None,
    fps: float = DEFAULT_FPS,
    family: str = "basic",
) -> list[ScenarioSpec]:
    """``n`` specs of ``family`` with seeds ``seed .. seed + n - 1`` (all below
    :data:`BENCHMARK_SEED_BASE`); ``frames`` and ``size`` default to the family's
    (:func:`family_defaults`).

    ``attributes`` (see :func:`parse_attribute_sets`) are cycled over the sequences. By default, for
    ``basic``, the first ``len(ATTRIBUTES)`` sequences get one attribute each (so 9 sequences cover
    all of them) and later rounds pair the cycled attribute with a second one drawn from the
    sequence's seed; for ``drone``, the sequences cycle through all 8 combinations of
    :data:`DRONE_ATTRIBUTES` (:func:`drone_attribute_sets`) and draw their look-alike count from the
    seed (vehicles 8-40, pedestrians 10-60).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InputError(f"number of sequences must be a positive integer, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    if seed + n > BENCHMARK_SEED_BASE:
        raise InputError(
            f"seeds {seed}..{seed + n - 1} reach {BENCHMARK_SEED_BASE}, which starts the seeds reserved for the "
            f"benchmark set; use a seed below {BENCHMARK_SEED_BASE - n + 1}"
        )
    default_frames, default_size = family_defaults(family)
    sets = parse_attribute_sets(attributes, family) if attributes is not None else None
    width, height = size if size is not None else default_size
    specs = []
    for index in range(int(n)):
        sequence_seed = int(seed) + index
        if sets is not None:
            chosen = sets[index % len(sets)]
        elif family == "drone":
            chosen = drone_attribute_sets()[index % 8]
        else:
            primary = ATTRIBUTES[index % len(ATTRIBUTES)]
            chosen = (primary,)
            if index >= len(ATTRIBUTES):
                others = [name for name in ATTRIBUTES if name != primary]
                chosen = normalize_attributes((primary, others[_rng(sequence_seed, "combine").integers(len(others))]))
        lookalikes = _drawn_lookalikes(sequence_seed, chosen) if family == "drone" else 0
        specs.append(
            ScenarioSpec(
                name=sequence_name(family_prefix(family), sequence_seed, chosen, lookalikes),
                seed=sequence_seed,
                frames=frames if frames is not None else default_frames,
                width=width,
                height=height,
                attributes=chosen,
                fps=fps,
                family=family,
                lookalikes=lookalikes,
            )
        )
    return specs


def family_defaults(family: str) -> tuple[int, tuple[int, int]]:
    """``(frames, (width, height))`` of a family's sequences unless told otherwise."""
    return (DRONE_FRAMES, DRONE_SIZE) if check_family(family) == "drone" else (DEFAULT_FRAMES, DEFAULT_SIZE)


def family_prefix(family: str) -> str:
    """Name prefix of a family's training sequences: ``synth`` (basic), ``drone``."""
    return "drone" if check_family(family) == "drone" else "synth"


def drone_attribute_sets() -> list[tuple[str, ...]]:
    """All 8 combinations of :data:`DRONE_ATTRIBUTES` in a fixed order, vehicles by day first."""
    conditions = ((), ("night",), ("misalignment",), ("night", "misalignment"))
    scenes = ((), ("pedestrians",))
    return [normalize_attributes(scene + condition, "drone") for condition in conditions for scene in scenes]


def _drawn_lookalikes(seed: int, attributes: Sequence[str]) -> int:
    """A drone training sequence's look-alike count, drawn from its seed (see :func:`make_specs`)."""
    low, high = (10, 60) if "pedestrians" in attributes else (8, 40)
    return int(_rng(seed, "lookalikes").integers(low, high + 1))


def benchmark_specs(family: str = "basic") -> list[ScenarioSpec]:
    """A family's fixed synthetic test set. Change it only together with any numbers reported on it.

    ``basic``: 18 sequences of 100 frames at 320x256, seeds 100000-100017: one clear sequence, each
    attribute alone, and eight combinations of two or three attributes. ``drone``: 24 sequences of
    300 frames at 1920x1080, seeds 300000-300023: vehicles and pedestrians, each by day and night,
    registered and misregistered, three times each (15, 35 and 25 vehicles; 20, 50 and 35 people;
    the first eight, seeds 300000-300007, are the set's first version, unchanged).
    """
    if check_family(family) == "drone":
        return _fixed_drone_specs("dronebench", DRONE_BENCHMARK_SEED_BASE)
    return _fixed_specs("bench", BENCHMARK_SEED_BASE)


def validation_specs(family: str = "basic", repeats: int = 1) -> list[ScenarioSpec]:
    """A family's synthetic validation set: the test set's attribute sets with their own seeds
    (``basic``: 200000-200017; ``drone``: 400000-400023, the test set's attribute sets and look-alike
    counts).

    For choosing tracker parameters and checkpoints, so that the test set (:func:`benchmark_specs`)
    is only used to report them. Disjoint from training seeds (below :data:`BENCHMARK_SEED_BASE`).
    ``repeats`` > 1 appends the attribute sets again with the next seeds (basic repeat ``r``: seeds
    200000 + 18 r ...), so the first set is always the one-repeat set: a larger set tells smaller
    differences between checkpoints from noise (ours: the papers have no synthetic sets).
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or not 1 <= repeats <= MAX_VALIDATION_REPEATS:
        raise InputError(f"validation repeats must be an integer in 1..{MAX_VALIDATION_REPEATS}, got {repeats!r}")
    if check_family(family) == "drone":
        return _fixed_drone_specs("droneval", DRONE_VALIDATION_SEED_BASE, repeats)
    return _fixed_specs("val", VALIDATION_SEED_BASE, repeats)


def _fixed_specs(prefix: str, seed_base: int, repeats: int = 1) -> list[ScenarioSpec]:
    sets = list(_BENCHMARK_SETS) * repeats
    return [
        ScenarioSpec(name=sequence_name(prefix, seed_base + index, attributes), seed=seed_base + index,
                     attributes=attributes)
        for index, attributes in enumerate(sets)
    ]


def _fixed_drone_specs(prefix: str, seed_base: int, repeats: int = 1) -> list[ScenarioSpec]:
    frames, (width, height) = family_defaults("drone")
    sets = list(_DRONE_BENCHMARK_SETS) * repeats
    return [
        ScenarioSpec(
            name=sequence_name(prefix, seed_base + index, attributes, lookalikes),
            seed=seed_base + index,
            frames=frames,
            width=width,
            height=height,
            attributes=attributes,
            family="drone",
            lookalikes=lookalikes,
        )
        for index, (attributes, lookalikes) in enumerate(sets)
    ]


# ----------------------------------------------------------------------------------------------
# Appearance


@dataclass(frozen=True)
class Sprite:
    """An object's appearance at its largest rendered size.

    ``rgba``: ``(h, w, 4)`` float32, RGB in 0..255 and alpha in [0, 1] (the object's shape, touching
    all four sides, so its box is tight); ``signature``: ``(h, w)`` float32 in [0, 1], scaled by
    ``heat`` (counts above the local background) in thermal.
    """

    rgba: np.ndarray
    signature: np.ndarray
    heat: float

    def at_size(self, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """``(rgba, signature)`` resized to ``width x height`` (area averaging when shrinking)."""
        full_h, full_w = self.signature.shape
        if (width, height) == (full_w, full_h):
            return self.rgba, self.signature
        interpolation = cv2.INTER_AREA if width <= full_w and height <= full_h else cv2.INTER_LINEAR
        return (
            cv2.resize(self.rgba, (width, height), interpolation=interpolation),
            cv2.resize(self.signature, (width, height), interpolation=interpolation),
        )


@dataclass(frozen=True)
class Occluder:
    """A static opaque object in front of the target: world box ``[x, y, w, h]`` (int), its RGB
    (``h x w x 3``, 0..255) and thermal (``h x w``, counts) appearance."""

    box: np.ndarray
    rgb: np.ndarray
    thermal: np.ndarray


@dataclass(frozen=True)
class _Look:
    """Parameters of an object's appearance (colours as HSV in [0, 1])."""

    hue: float
    saturation: float
    value: float
    hue2: float
    value2: float
    pattern: str
    frequency: float
    angle: float
    split: float
    roundness: float
    hot_u: float
    hot_v: float
    heat: float


def _random_look(rng: np.random.Generator) -> _Look:
    hue = float(rng.uniform())
    return _Look(
        hue=hue,
        saturation=float(rng.uniform(0.55, 1.0)),
        value=float(rng.uniform(0.55, 0.95)),
        hue2=float((hue + rng.uniform(0.3, 0.7)) % 1.0),
        value2=float(rng.uniform(0.25, 0.6)),
        pattern=str(rng.choice(["stripes", "checker", "bands"])),
        frequency=float(rng.uniform(1.5, 3.5)),
        angle=float(rng.uniform(0, np.pi)),
        split=float(rng.uniform(-0.3, 0.3)),
        roundness=float(rng.choice([2.0, 4.0])),
        hot_u=float(rng.uniform(-0.3, 0.3)),
        hot_v=float(rng.uniform(-0.5, 0.3)),
        heat=float(rng.uniform(1000.0, 2500.0)),
    )


def _similar_look(look: _Look, rng: np.random.Generator) -> _Look:
    """A distractor: the same kind of object with small colour, pattern and heat differences."""
    return dataclasses.replace(
        look,
        hue=float((look.hue + rng.uniform(-0.04, 0.04)) % 1.0),
        value=float(np.clip(look.value + rng.uniform(-0.08, 0.08), 0.3, 1.0)),
        angle=float(look.angle + rng.uniform(-0.3, 0.3)),
        split=float(look.split + rng.uniform(-0.1, 0.1)),
        hot_u=float(look.hot_u + rng.uniform(-0.1, 0.1)),
        heat=float(look.heat * rng.uniform(0.85, 1.15)),
    )


def _hsv_to_rgb255(hue: float, saturation: float, value: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue, saturation, value), dtype=np.float32) * 255.0


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cell: int, channels: int = 1) -> np.ndarray:
    """Unit-variance-ish noise smooth over ``cell`` pixels (bicubic upsampling of a coarse grid)."""
    shape = (height // cell + 2, width // cell + 2) + ((channels,) if channels > 1 else ())
    coarse = rng.standard_normal(shape).astype(np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)


def _make_sprite(look: _Look, width: int, height: int, rng: np.random.Generator) -> Sprite:
    """Render ``look`` as a superellipse of ``width x height`` with pattern, shading and a hot spot."""
    u = ((np.arange(width, dtype=np.float32) + 0.5) / width * 2.0 - 1.0)[None, :]
    v = ((np.arange(height, dtype=np.float32) + 0.5) / height * 2.0 - 1.0)[:, None]
    radius = (np.abs(u) ** look.roundness + np.abs(v) ** look.roundness) ** (1.0 / look.roundness)
    # One canonical pixel of soft edge; the outermost pixel centres keep alpha 1, so the box is tight.
    alpha = np.clip((1.0 - radius) / (2.0 / min(width, height)) + 0.5, 0.0, 1.0)
    if look.pattern == "stripes":
        phase = u * math.cos(look.angle) + v * math.sin(look.angle)
        mix = np.clip(np.sin(2 * np.pi * look.frequency * phase) * 2.0 + 0.5, 0.0, 1.0)
    elif look.pattern == "checker":
        cells = np.floor((u + 1.0) * look.frequency) + np.floor((v + 1.0) * look.frequency)
        mix = np.remainder(cells, 2.0)
    else:  # two-tone bands, e.g. a jacket over trousers
        mix = np.broadcast_to(v > look.split, radius.shape).astype(np.float32)
    mix = np.broadcast_to(mix, radius.shape)[..., None]
    first = _hsv_to_rgb255(look.hue, look.saturation, look.value)
    second = _hsv_to_rgb255(look.hue2, look.saturation, look.value2)
    shading = (1.15 - 0.3 * (v + 1.0) / 2.0)[..., None]
    texture = cv2.GaussianBlur(rng.normal(0.0, 6.0, (height, width)).astype(np.float32), (0, 0), 0.8)
    rgb = np.clip((first * (1.0 - mix) + second * mix) * shading + texture[..., None], 0.0, 255.0)
    hot = np.exp(-((u - look.hot_u) ** 2 + (v - look.hot_v) ** 2) / (2 * 0.35**2))
    signature = (0.6 + 0.4 * hot) * (0.9 + 0.1 * np.clip(1.0 - radius, 0.0, 1.0))
    signature = signature + 0.04 * _smooth_noise(rng, height, width, max(2, min(width, height) // 4))
    signature = np.clip(signature / signature.max(), 0.0, 1.0).astype(np.float32)
    rgba = np.concatenate([rgb, alpha[..., None]], axis=2).astype(np.float32)
    return Sprite(rgba=np.ascontiguousarray(rgba), signature=signature, heat=look.heat)


def _background(rng: np.random.Generator, height: int, width: int, ambient: float) -> tuple[np.ndarray, np.ndarray]:
    """World canvas: RGB (gradient, muted shapes, smooth light/colour variation, texture) and
    thermal counts (ambient, vertical gradient, warm/cool copies of the shapes, structure, texture)."""
    short = min(height, width)
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    top, bottom = rng.uniform(30, 220, 3).astype(np.float32), rng.uniform(30, 220, 3).astype(np.float32)
    rgb = np.ascontiguousarray(np.broadcast_to((top * (1 - rows) + bottom * rows)[:, None, :], (height, width, 3)))
    thermal = np.ascontiguousarray(
        np.broadcast_to(ambient + (rows - 0.5) * rng.uniform(-400, 400), (height, width)), dtype=np.float32
    )
    for _ in range(int(rng.integers(8, 17))):
        centre = (int(rng.uniform(0, width)), int(rng.uniform(0, height)))
        half = tuple(int(x) for x in rng.uniform(0.03, 0.15, 2) * short + 1)
        grey = rng.uniform(40, 210)
        colour = tuple(float(c) for c in 0.5 * grey + 0.5 * rng.uniform(20, 235, 3))
        heat = float(ambient + rng.uniform(-300, 700))
        if rng.random() < 0.5:
            corner1 = (centre[0] - half[0], centre[1] - half[1])
            corner2 = (centre[0] + half[0], centre[1] + half[1])
            cv2.rectangle(rgb, corner1, corner2, colour, -1)
            cv2.rectangle(thermal, corner1, corner2, heat, -1)
        else:
            cv2.ellipse(rgb, centre, half, 0.0, 0.0, 360.0, colour, -1)
            cv2.ellipse(thermal, centre, half, 0.0, 0.0, 360.0, heat, -1)
    cell = max(4, short // 8)
    rgb += _smooth_noise(rng, height, width, cell)[..., None] * 18.0
    rgb += _smooth_noise(rng, height, width, cell, channels=3) * 8.0
    rgb += cv2.GaussianBlur(rng.normal(0.0, 10.0, (height, width)).astype(np.float32), (0, 0), 0.8)[..., None]
    thermal += _smooth_noise(rng, height, width, max(4, short // 6)) * 120.0
    thermal += cv2.GaussianBlur(rng.normal(0.0, 12.0, (height, width)).astype(np.float32), (0, 0), 1.0)
    return np.clip(rgb, 0.0, 255.0), thermal


def _make_occluder(rng: np.random.Generator, box: np.ndarray, ambient: float) -> Occluder:
    """A plank-textured opaque block near ambient temperature."""
    width, height = int(box[2]), int(box[3])
    colour = rng.uniform(60, 170) * (1.0 + rng.uniform(-0.25, 0.25, 3))
    period = int(rng.integers(5, 12))
    coordinate = np.arange(width)[None, :] if rng.random() < 0.5 else np.arange(height)[:, None]
    seams = np.broadcast_to((coordinate % period) == 0, (height, width))
    noise = rng.normal(0.0, 6.0, (height, width))
    rgb = np.clip(colour * (1.0 - 0.3 * seams)[..., None] + noise[..., None], 0.0, 255.0).astype(np.float32)
    thermal = ambient + rng.uniform(-400.0, 150.0) + 25.0 * _smooth_noise(rng, height, width, 4)
    return Occluder(box=np.asarray(box, dtype=np.int64), rgb=rgb, thermal=thermal.astype(np.float32))


# ----------------------------------------------------------------------------------------------
# Geometry


def _reflect(value: float, low: float, high: float) -> tuple[float, bool]:
    """Fold ``value`` into ``[low, high]`` as a mirror would; True if the direction flips."""
    if high <= low:
        return (low + high) / 2.0, False
    span = high - low
    bounces = math.floor((value - low) / span)
    offset = (value - low) - bounces * span
    return (low + span - offset, True) if bounces % 2 else (low + offset, False)


def _target_sizes(rng: np.random.Generator, frames: int, short: int, scale_change: bool) -> np.ndarray:
    """``(frames, 2)`` target width/height; geometric change by 2.2-3x for ``scale_change``."""
    base = rng.uniform(0.10, 0.16) * short
    aspect = rng.uniform(0.5, 1.6)
    progress = np.linspace(0.0, 1.0, frames)
    if scale_change:
        ratio = rng.uniform(2.2, 3.0)
        ratio = 1.0 / ratio if rng.random() < 0.5 else ratio
        factor = ratio ** (progress - 0.5)
    else:
        factor = 1.0 + 0.04 * np.sin(2 * np.pi * rng.uniform(0.5, 1.5) * progress + rng.uniform(0, 2 * np.pi))
    size = base * factor
    size *= max(1.0, 8.0 / size.min())  # keep the smallest box usable without changing the ratio
    return np.stack([size * math.sqrt(aspect), size / math.sqrt(aspect)], axis=1)


def _speed_profile(rng: np.random.Generator, frames: int, scale: float, fast_motion: bool) -> np.ndarray:
    """Per-frame displacement (px): 0.8-2.2 px (scaled to the image), fast bursts of 24-30 px."""
    speed = np.full(frames, rng.uniform(0.8, 2.2) * scale)
    if fast_motion:
        bursts = 2 if frames >= 20 else 1
        length = max(2, round(0.12 * frames))
        segment = (frames - 1) / bursts
        for burst in range(bursts):
            first = 1 + int(burst * segment)
            last = max(first, int((burst + 1) * segment) - length + 1)
            start = int(rng.integers(first, last + 1))
            speed[start : start + length] = rng.uniform(24.0, 30.0) * max(1.0, scale)
    return speed


def _path(
    rng: np.random.Generator, sizes: np.ndarray, speed: np.ndarray, window: tuple[int, int, int, int]
) -> np.ndarray:
    """Smooth random centre path ``(frames, 2)`` in world pixels, kept in ``window = (x, y, w, h)``.

    The heading turns with a low-pass filtered random angular velocity and mirrors at the borders.
    """
    x0, y0, width, height = window
    pad = 2.0
    low = np.stack([x0 + sizes[:, 0] / 2 + pad, y0 + sizes[:, 1] / 2 + pad], axis=1)
    high = np.stack([x0 + width - sizes[:, 0] / 2 - pad, y0 + height - sizes[:, 1] / 2 - pad], axis=1)
    centres = np.empty((len(speed), 2))
    centres[0] = low[0] + (high[0] - low[0]) * rng.uniform(0.2, 0.8, 2)
    heading, turn = rng.uniform(0, 2 * np.pi), 0.0
    for t in range(1, len(speed)):
        turn = 0.85 * turn + rng.normal(0.0, 0.06)
        heading += turn
        x, flip_x = _reflect(centres[t - 1, 0] + speed[t] * math.cos(heading), low[t, 0], high[t, 0])
        y, flip_y = _reflect(centres[t - 1, 1] + speed[t] * math.sin(heading), low[t, 1], high[t, 1])
        heading = math.pi - heading if flip_x else heading
        heading = -heading if flip_y else heading
        centres[t] = x, y
    return centres


def _boxes(centres: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Integer ``[x, y, w, h]`` boxes (what is rendered is exactly the ground truth)."""
    wh = np.maximum(1, np.rint(sizes)).astype(np.int64)
    xy = np.rint(centres - wh / 2.0).astype(np.int64)
    return np.concatenate([xy, wh], axis=1)


def _union(boxes: np.ndarray) -> np.ndarray:
    x1, y1 = boxes[:, 0].min(), boxes[:, 1].min()
    x2, y2 = (boxes[:, 0] + boxes[:, 2]).max(), (boxes[:, 1] + boxes[:, 3]).max()
    return np.array([x1, y1, x2 - x1, y2 - y1], dtype=np.int64)


def _centre(box: np.ndarray) -> np.ndarray:
    return box[..., :2] + box[..., 2:] / 2.0


def _heat_profile(rng: np.random.Generator, frames: int) -> np.ndarray:
    """Thermal crossover: heat factor 1 -> 0-5 % -> 1 (ramps ~8 %, hold ~20 % of the frames)."""
    hold, ramp = max(1, round(0.2 * frames)), max(1, round(0.08 * frames))
    start = int(rng.integers(round(0.15 * frames), max(round(0.15 * frames), frames - hold - 2 * ramp) + 1))
    level = rng.uniform(0.0, 0.05)
    knots = np.array([start, start + ramp, start + ramp + hold, start + 2 * ramp + hold], dtype=np.float64)
    return np.interp(np.arange(frames), knots, [1.0, level, level, 1.0])


def _window_candidates(frames: int, length: int, centre_range: tuple[float, float]) -> range:
    first = min(max(0, round(centre_range[0] * frames) - length // 2), frames - length)
    last = max(first, min(frames - length, round(centre_range[1] * frames) - length // 2))
    return range(first, last + 1)


# ----------------------------------------------------------------------------------------------
# The plan: all geometry of a sequence, computed once


@dataclass(frozen=True)
class SequencePlan:
    """Everything about a sequence except per-frame sensor noise (see :func:`render_frame`).

    World coordinates are canvas pixels; image ``(0, 0)`` of the RGB camera at frame ``t`` is
    world ``margin + shake[t]``, of the thermal camera ``margin + shake[t] + misalignment``.

    Attributes:
        target_boxes / distractor_boxes: ``(frames, 4)`` int world boxes.
        heat_factor: ``(frames,)`` multiplier of the target's heat (thermal crossover).
        occluded_fraction: ``(frames,)`` fraction of the target's mask behind occluders.
        flags: per attribute, ``(frames,)`` bool per-frame flags.
        stamps_rgb_ns / stamps_thermal_ns: ``(frames,)`` int64 sensor stamps.
    """

    spec: ScenarioSpec
    margin: int
    background_rgb: np.ndarray
    background_thermal: np.ndarray
    fixed_pattern: np.ndarray
    target: Sprite
    target_boxes: np.ndarray
    heat_factor: np.ndarray
    distractor: Optional[Sprite]
    distractor_boxes: Optional[np.ndarray]
    occluders: tuple[Occluder, ...]
    occluded_fraction: np.ndarray
    shake: np.ndarray
    misalignment: np.ndarray
    rgb_gain: float
    rgb_desaturation: float
    rgb_noise: float
    stamps_rgb_ns: np.ndarray
    stamps_thermal_ns: np.ndarray
    flags: dict

    def origin(self, index: int, thermal: bool = False) -> np.ndarray:
        """World position of image pixel ``(0, 0)`` of a camera at frame ``index``."""
        origin = self.margin + self.shake[index]
        return origin + self.misalignment if thermal else origin

    def image_box(self, index: int, thermal: bool = False) -> Optional[np.ndarray]:
        """Ground truth ``[x, y, w, h]`` (float64) in a camera's image, clipped to the image;
        ``None`` when the target is out of view."""
        return image_box(self.target_boxes[index], self.origin(index, thermal), self.spec.size)


def image_box(world_box: np.ndarray, origin: np.ndarray, size: tuple[int, int]) -> Optional[np.ndarray]:
    """A world box ``[x, y, w, h]`` in the image of a camera whose pixel ``(0, 0)`` is world
    ``origin``, clipped to the image ``size = (width, height)``: float64, or ``None`` out of view."""
    x, y = world_box[:2] - origin
    x2 = min(x + world_box[2], size[0])
    y2 = min(y + world_box[3], size[1])
    x, y = max(x, 0), max(y, 0)
    if x2 <= x or y2 <= y:
        return None
    return np.array([x, y, x2 - x, y2 - y], dtype=np.float64)


def plan_sequence(spec: ScenarioSpec) -> Union[SequencePlan, "DronePlan"]:
    """Draw the scene, the paths and every attribute's geometry for ``spec`` (see module doc): a
    :class:`SequencePlan` for ``basic``, a ``DronePlan`` for ``drone``."""
    if spec.family == "drone":
        from rgbt_tracker_ros.data.synthetic_drone import plan_drone_sequence  # imports this module

        return plan_drone_sequence(spec)
    width, height, frames, seed = spec.width, spec.height, spec.frames, spec.seed
    wanted = set(spec.attributes)
    short = min(width, height)
    shake_sigma = max(1.0, 0.015 * short)
    max_misalignment = max(2.0, 0.025 * short)
    margin = int(math.ceil(3 * shake_sigma) + math.ceil(max_misalignment)) + 2
    window = (margin, margin, width, height)

    scene = _rng(seed, "scene")
    ambient = float(scene.uniform(7000.0, 8000.0))
    background_rgb, background_thermal = _background(scene, height + 2 * margin, width + 2 * margin, ambient)
    fixed_pattern = (
        scene.normal(0.0, THERMAL_COLUMN_FPN, (1, width)) + scene.normal(0.0, THERMAL_ROW_FPN, (height, 1))
    ).astype(np.float32)

    sizes = _target_sizes(_rng(seed, "scale"), frames, short, "scale_change" in wanted)
    speed = _speed_profile(_rng(seed, "fast"), frames, short / 256.0, "fast_motion" in wanted)
    centres = _path(_rng(seed, "path"), sizes, speed, window)
    target_boxes = _boxes(centres, sizes)
    target_rng = _rng(seed, "target")
    look = _random_look(target_rng)
    largest = target_boxes[:, 2:].max(axis=0)
    target = _make_sprite(look, int(largest[0]), int(largest[1]), target_rng)

    distractor = distractor_boxes = None
    if "distractor" in wanted:
        distractor, distractor_boxes = _plan_distractor(_rng(seed, "distractor"), look, centres, sizes, window)

    occluders = _plan_occluders(_rng(seed, "occlusion"), wanted, target_boxes, centres, ambient)
    occluded = _occluded_fraction(target, target_boxes, occluders)
    heat_factor = _heat_profile(_rng(seed, "crossover"), frames) if "thermal_crossover" in wanted else np.ones(frames)

    shake = np.zeros((frames, 2), dtype=np.int64)
    if "camera_shake" in wanted:
        limit = math.floor(3 * shake_sigma)
        jitter = _rng(seed, "shake").normal(0.0, shake_sigma, (frames, 2))
        shake = np.clip(np.rint(jitter), -limit, limit).astype(np.int64)
    misalignment = np.zeros(2, dtype=np.int64)
    if "misalignment" in wanted:
        rng = _rng(seed, "misalignment")
        magnitude = max(2.0, rng.uniform(0.012, 0.025) * short)
        angle = rng.uniform(0, 2 * np.pi)
        misalignment = np.rint(magnitude * np.array([math.cos(angle), math.sin(angle)])).astype(np.int64)

    light = _rng(seed, "light")
    if "low_illumination" in wanted:
        rgb_gain, rgb_desaturation, rgb_noise = light.uniform(0.12, 0.22), 0.4, light.uniform(4.0, 7.0)
    else:
        rgb_gain, rgb_desaturation, rgb_noise = 1.0, 0.0, RGB_NOISE

    stamps_rgb_ns, stamps_thermal_ns = _stamps(_rng(seed, "stamps"), spec)
    image_centres = _centre(target_boxes.astype(np.float64)) - shake
    flags = _flags(
        spec, wanted, target_boxes, image_centres, distractor_boxes, occluded, heat_factor, margin
    )
    return SequencePlan(
        spec=spec,
        margin=margin,
        background_rgb=background_rgb,
        background_thermal=background_thermal,
        fixed_pattern=fixed_pattern,
        target=target,
        target_boxes=target_boxes,
        heat_factor=heat_factor,
        distractor=distractor,
        distractor_boxes=distractor_boxes,
        occluders=tuple(occluders),
        occluded_fraction=occluded,
        shake=shake,
        misalignment=misalignment,
        rgb_gain=float(rgb_gain),
        rgb_desaturation=float(rgb_desaturation),
        rgb_noise=float(rgb_noise),
        stamps_rgb_ns=stamps_rgb_ns,
        stamps_thermal_ns=stamps_thermal_ns,
        flags=flags,
    )


def _plan_distractor(
    rng: np.random.Generator, look: _Look, centres: np.ndarray, sizes: np.ndarray, window: tuple[int, int, int, int]
) -> tuple[Sprite, np.ndarray]:
    """A similar object on a straight line passing 0.8-1.3 target sizes from the target at a random
    time in the middle of the sequence, on the side towards the image centre."""
    frames = len(centres)
    crossing = int(rng.uniform(0.35, 0.65) * (frames - 1))
    direction_angle = rng.uniform(0, 2 * np.pi)
    direction = np.array([math.cos(direction_angle), math.sin(direction_angle)])
    normal = np.array([-direction[1], direction[0]])
    image_centre = np.array([window[0] + window[2] / 2.0, window[1] + window[3] / 2.0])
    side = 1.0 if np.dot(image_centre - centres[crossing], normal) >= 0 else -1.0
    passing = centres[crossing] + side * rng.uniform(0.8, 1.3) * sizes[crossing].max() * normal
    speed = rng.uniform(1.5, 3.5) * min(window[2], window[3]) / 256.0
    path = passing + np.outer(np.arange(frames) - crossing, direction * speed)
    size = sizes[crossing] * rng.uniform(0.85, 1.15) * np.array([rng.uniform(0.95, 1.05), 1.0])
    boxes = _boxes(path, np.broadcast_to(size, (frames, 2)))
    similar = _similar_look(look, rng)
    return _make_sprite(similar, int(boxes[0, 2]), int(boxes[0, 3]), rng), boxes


def _plan_occluders(
    rng: np.random.Generator, wanted: set, boxes: np.ndarray, centres: np.ndarray, ambient: float
) -> list[Occluder]:
    """Full occlusion: a block over the union of the target boxes of a window of ~12 % of the frames,
    placed where that union is smallest (among the middle frames). Partial occlusion: a pole 35 % as
    thick as the target's smallest extent, perpendicular to the motion where the target passes."""
    frames = len(boxes)
    occluders = []
    both = "full_occlusion" in wanted and "partial_occlusion" in wanted
    if "full_occlusion" in wanted:
        length = min(frames, max(3, round(0.12 * frames)))
        candidates = _window_candidates(frames, length, (0.5, 0.75) if both else (0.3, 0.7))
        unions = [_union(boxes[start : start + length]) for start in candidates]
        areas = np.array([union[2] * union[3] for union in unions], dtype=np.float64)
        choice = rng.choice(np.flatnonzero(areas <= 1.5 * areas.min()))
        union = unions[int(choice)]
        pad = max(2, round(0.1 * int(boxes[:, 2:].max())))
        block = union + np.array([-pad, -pad, 2 * pad, 2 * pad])
        occluders.append(_make_occluder(rng, block, ambient))
    if "partial_occlusion" in wanted:
        low, high = (0.2, 0.4) if both else (0.3, 0.7)
        passing = int(rng.uniform(low, high) * (frames - 1))
        motion = centres[min(passing + 1, frames - 1)] - centres[max(passing - 1, 0)]
        centre = centres[passing]
        if abs(motion[0]) >= abs(motion[1]):  # moving sideways: a vertical pole
            thickness = max(2, int(0.35 * boxes[:, 2].min()))
            extent = int(4 * boxes[passing, 3])
            pole = [round(centre[0] - thickness / 2), round(centre[1] - extent / 2), thickness, extent]
        else:
            thickness = max(2, int(0.35 * boxes[:, 3].min()))
            extent = int(4 * boxes[passing, 2])
            pole = [round(centre[0] - extent / 2), round(centre[1] - thickness / 2), extent, thickness]
        occluders.append(_make_occluder(rng, np.array(pole, dtype=np.int64), ambient))
    return occluders


def _occluded_fraction(target: Sprite, boxes: np.ndarray, occluders: Sequence[Occluder]) -> np.ndarray:
    """Per frame, the fraction of the target's mask pixels (alpha > 0.5) behind any occluder."""
    fraction = np.zeros(len(boxes))
    if not occluders:
        return fraction
    for index, (x, y, w, h) in enumerate(boxes.tolist()):
        mask = target.at_size(w, h)[0][..., 3] > 0.5
        covered = np.zeros_like(mask)
        for occluder in occluders:
            ox, oy, ow, oh = occluder.box.tolist()
            x1, y1 = max(ox - x, 0), max(oy - y, 0)
            x2, y2 = min(ox + ow - x, w), min(oy + oh - y, h)
            if x2 > x1 and y2 > y1:
                covered[y1:y2, x1:x2] = True
        fraction[index] = (mask & covered).sum() / max(1, mask.sum())
    return fraction


def _stamps(rng: np.random.Generator, spec: ScenarioSpec) -> tuple[np.ndarray, np.ndarray]:
    """RGB and thermal stamps (int64 ns, whole microseconds) of two free-running cameras."""
    period = 1e9 / spec.fps
    index = np.arange(spec.frames) * period
    rgb_jitter = np.clip(rng.normal(0.0, 0.015 * period, spec.frames), -0.045 * period, 0.045 * period)
    offset = rng.uniform(0.06, 0.24) * period
    thermal_jitter = np.clip(rng.normal(0.0, 0.03 * period, spec.frames), -0.09 * period, 0.09 * period)
    start_us = spec.start_ns // 1000
    rgb_us = start_us + np.rint((index + rgb_jitter) / 1000.0).astype(np.int64)
    thermal_us = start_us + np.rint((index + offset + thermal_jitter) / 1000.0).astype(np.int64)
    return rgb_us * 1000, thermal_us * 1000


def _flags(
    spec: ScenarioSpec,
    wanted: set,
    boxes: np.ndarray,
    image_centres: np.ndarray,
    distractor_boxes: Optional[np.ndarray],
    occluded: np.ndarray,
    heat_factor: np.ndarray,
    margin: int,
) -> dict:
    """Per-frame attribute flags (thresholds in the module docstring)."""
    frames = spec.frames
    every = np.ones(frames, dtype=bool)
    none = np.zeros(frames, dtype=bool)
    area = boxes[:, 2].astype(np.float64) * boxes[:, 3]
    scale = np.sqrt(area / area[0])
    displacement = np.r_[0.0, np.linalg.norm(np.diff(image_centres, axis=0), axis=1)]
    near = none
    if distractor_boxes is not None:
        offset = _centre(distractor_boxes.astype(np.float64)) - _centre(boxes.astype(np.float64))
        distance = np.linalg.norm(offset, axis=1)
        in_view = (
            (distractor_boxes[:, 0] + distractor_boxes[:, 2] > margin)
            & (distractor_boxes[:, 0] < margin + spec.width)
            & (distractor_boxes[:, 1] + distractor_boxes[:, 3] > margin)
            & (distractor_boxes[:, 1] < margin + spec.height)
        )
        near = in_view & (distance < DISTRACTOR_NEAR * boxes[:, 2:].max(axis=1))
    return {
        "low_illumination": every if "low_illumination" in wanted else none,
        "thermal_crossover": heat_factor < CROSSOVER_HEAT,
        "partial_occlusion": (occluded >= PARTIAL_OCCLUSION_MIN) & (occluded < 1.0),
        "full_occlusion": occluded >= 1.0,
        "distractor": near,
        "scale_change": (scale > SCALE_CHANGE_RATIO) | (scale < 1.0 / SCALE_CHANGE_RATIO),
        "fast_motion": displacement > FAST_MOTION_PX,
        "camera_shake": every if "camera_shake" in wanted else none,
        "misalignment": every if "misalignment" in wanted else none,
    }


# ----------------------------------------------------------------------------------------------
# Rendering


def _paste(image: np.ndarray, patch: np.ndarray, alpha: Optional[np.ndarray], x: int, y: int) -> None:
    """Alpha-blend ``patch`` with its top-left corner at ``(x, y)`` into ``image``, clipped."""
    height, width = patch.shape[:2]
    x1, y1 = max(x, 0), max(y, 0)
    x2, y2 = min(x + width, image.shape[1]), min(y + height, image.shape[0])
    if x2 <= x1 or y2 <= y1:
        return
    source = patch[y1 - y : y2 - y, x1 - x : x2 - x]
    region = image[y1:y2, x1:x2]
    if alpha is None:
        region[...] = source
        return
    weight = alpha[y1 - y : y2 - y, x1 - x : x2 - x]
    if region.ndim == 3:
        weight = weight[..., None]
    region += weight * (source - region)


def _local_level(background: np.ndarray, box: np.ndarray) -> float:
    """Mean background counts under a world box: what the object emits at zero heat contrast."""
    x, y, w, h = box.tolist()
    region = background[max(y, 0) : max(y + h, 1), max(x, 0) : max(x + w, 1)]
    return float(region.mean()) if region.size else float(background.mean())


def _quantize(image: np.ndarray, dtype: type) -> np.ndarray:
    """Round and saturate a float image to an integer dtype (in place on ``image``)."""
    np.rint(image, out=image)
    np.clip(image, 0, np.iinfo(dtype).max, out=image)
    return image.astype(dtype)


def check_frame_index(spec: ScenarioSpec, index: int) -> None:
    """Raise :class:`InputError` unless ``0 <= index < spec.frames``."""
    if not 0 <= index < spec.frames:
        raise InputError(f"frame index {index} outside 0..{spec.frames - 1} of {spec.name}")


def render_frame(plan: Union[SequencePlan, "DronePlan"], index: int) -> FramePair:
    """Render frame ``index`` of ``plan`` (order-independent: noise is seeded per frame)."""
    spec = plan.spec
    if spec.family == "drone":
        from rgbt_tracker_ros.data.synthetic_drone import render_drone_frame  # imports this module

        return render_drone_frame(plan, index)
    check_frame_index(spec, index)
    width, height = spec.width, spec.height
    layers = []
    if plan.distractor is not None:
        layers.append((plan.distractor, plan.distractor_boxes[index], 1.0))
    layers.append((plan.target, plan.target_boxes[index], float(plan.heat_factor[index])))

    images = {}
    for thermal in (False, True):
        ox, oy = plan.origin(index, thermal).tolist()
        background = plan.background_thermal if thermal else plan.background_rgb
        image = background[oy : oy + height, ox : ox + width].copy()
        for sprite, box, heat_factor in layers:
            rgba, signature = sprite.at_size(int(box[2]), int(box[3]))
            x, y = int(box[0]) - ox, int(box[1]) - oy
            if thermal:
                emitted = _local_level(plan.background_thermal, box) + sprite.heat * heat_factor * signature
                _paste(image, emitted, rgba[..., 3], x, y)
            else:
                _paste(image, rgba[..., :3], rgba[..., 3], x, y)
        for occluder in plan.occluders:
            x, y = int(occluder.box[0]) - ox, int(occluder.box[1]) - oy
            _paste(image, occluder.thermal if thermal else occluder.rgb, None, x, y)
        images[thermal] = image

    noise = _rng(spec.seed, "sensor", index)
    rgb = images[False]
    if plan.rgb_desaturation > 0:
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[..., None]
        rgb += plan.rgb_desaturation * (grey - rgb)
    rgb *= plan.rgb_gain
    rgb += noise.standard_normal(rgb.shape, dtype=np.float32) * np.float32(plan.rgb_noise)
    thermal = images[True]
    thermal += plan.fixed_pattern
    thermal += noise.standard_normal(thermal.shape, dtype=np.float32) * np.float32(THERMAL_NOISE)
    return FramePair(
        rgb=_quantize(rgb, np.uint8),
        thermal=_quantize(thermal, np.uint16),
        index=index,
        stamp_rgb=int(plan.stamps_rgb_ns[index] // 1000) / 1e6,
        stamp_thermal=int(plan.stamps_thermal_ns[index] // 1000) / 1e6,
        gt_rgb=plan.image_box(index),
        gt_thermal=plan.image_box(index, thermal=True),
        attributes={**{name: bool(plan.flags[name][index]) for name in ATTRIBUTES}, family_flag("basic"): True},
    )


def generate_sequence(spec: ScenarioSpec) -> Iterator[FramePair]:
    """The frames of ``spec`` in order: uint8 RGB, uint16 thermal counts, per-modality ground
    truth, sensor stamps (seconds) and per-frame attribute flags (with the family flag)."""
    plan = plan_sequence(spec)
    for index in range(spec.frames):
        yield render_frame(plan, index)

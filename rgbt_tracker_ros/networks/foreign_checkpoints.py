"""Reading other projects' checkpoints safely, and the report of what an import did with every key.

Shared by the weight importers (one module per source project: ``import_pytracking``, ``import_timm``,
``import_ostrack``).

Reading: a training checkpoint of pytracking or OSTrack is a pickle that names the project's own classes
(its network constructor, its settings). Nothing in it is imported or run: the file is first scanned
statically (:mod:`pickletools`) for the globals it names; those in the project's own packages are stood in
for by inert placeholder classes, and ``torch.load(weights_only=True)`` reads the rest with its allow-list of
tensors and plain containers. Any other global (``os.system``, ``builtins.eval``, numpy, ...) makes the load
fail with a one-line :class:`~rgbt_tracker_ros.errors.CheckpointError` naming it.
"""
from __future__ import annotations

import io
import pickle
import pickletools
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

from rgbt_tracker_ros.errors import CheckpointError


class ForeignPlaceholder:
    """Inert stand-in for another project's object in a checkpoint: keeps what the pickle gave it, runs nothing.

    ``source``: the class's original ``module.name``; ``args``: constructor / reduce arguments; ``state``:
    what the pickle's BUILD set (for pytracking's ``NetConstructor``: ``fun_name``, ``fun_module``, ``args``,
    ``kwds``).
    """

    source = ""
    project = "foreign"

    def __new__(cls, *args: Any, **kwargs: Any) -> "ForeignPlaceholder":
        obj = super().__new__(cls)
        obj.args, obj.state = args, None
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<{self.source} (not loaded: {self.project} class)>"


def placeholder_class(full_name: str, base: type = ForeignPlaceholder) -> type:
    """A subclass of ``base`` that the unpickler accepts in place of the global ``full_name``."""
    module, _, qualname = full_name.rpartition(".")
    return type(qualname.rpartition(".")[2], (base,),
                {"__module__": module, "__qualname__": qualname, "source": full_name})


def _scan_pickle(stream: io.BufferedIOBase, names: set[str]) -> None:
    """Add the globals that one pickle in ``stream`` names (GLOBAL / INST ops) to ``names``; runs nothing."""
    for opcode, arg, _pos in pickletools.genops(stream):
        if opcode.name in ("GLOBAL", "INST"):
            module, name = str(arg).split(" ", 1)
            names.add(f"{module}.{name}")


def pickle_globals(path: Path) -> set[str]:
    """Every ``module.name`` the torch checkpoint at ``path`` names (zip or legacy format), statically."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                records = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
                if not records:
                    raise CheckpointError(f"{path}: a zip file but not a PyTorch checkpoint (no data.pkl)")
                names: set[str] = set()
                _scan_pickle(io.BytesIO(archive.read(records[0])), names)
                return names
        names = set()
        with open(path, "rb") as stream:
            for _ in range(4):  # legacy format: magic number, protocol, sys info, then the object
                _scan_pickle(stream, names)
        return names
    except (ValueError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint (truncated or another kind of "
                              f"file?): {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def read_with_placeholders(path: Path, packages: Sequence[str], project: str,
                           base: type = ForeignPlaceholder) -> tuple[Any, list[str]]:
    """Safely ``torch.load`` ``path``: ``(payload, names of the globals read as placeholders)``.

    Globals in ``packages`` (top-level package names) become inert subclasses of ``base``; ``project`` names
    the source in the errors. Raises :class:`CheckpointError` for a missing, truncated or foreign file and for
    any other global (never executed).
    """
    if not path.is_file():
        raise CheckpointError(f"{project} checkpoint not found: {path}")
    names = pickle_globals(path)
    ours = sorted(n for n in names if n.split(".", 1)[0] in packages)
    try:
        with torch.serialization.safe_globals([placeholder_class(n, base) for n in ours]):
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        what = f"`{found.group(1)}`" if found else "an object that is not plain data"
        raise CheckpointError(f"{path}: refused: the pickle calls or builds {what}, which is neither a tensor, "
                              f"plain data nor a {project} class; nothing in it was run") from None
    except Exception as exc:  # truncated zip, bad storage, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint (truncated?): {first[:160]}") from None
    return payload, ours


def read_weights(path: Path, packages: Sequence[str] = (), project: str = "weights") -> tuple[Any, list[str]]:
    """A weight file's content: ``.safetensors`` (a flat state dict) or a torch checkpoint read by
    :func:`read_with_placeholders`. Returns ``(payload, placeholder names)``."""
    if path.suffix == ".safetensors":
        if not path.is_file():
            raise CheckpointError(f"{project} checkpoint not found: {path}")
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu"), []
        except (SafetensorError, OSError) as exc:
            raise CheckpointError(f"{path}: not a readable safetensors file: {str(exc).splitlines()[0]}") from None
    return read_with_placeholders(path, packages, project)


@dataclass
class ImportReport:
    """What an import did with every key: ``mapped`` (source key -> our keys), ``dropped`` (source keys
    with no place in our model) and ``initialised`` (our keys left at their initialisation), plus what was
    read of the checkpoint's other entries.

    ``source`` is the project (``pytracking``, ``timm``, ``ostrack``, ...), ``network`` what the file
    holds (``DiMP50``, ``ViT-B/16``, ``OSTrack``, ...).
    """

    source_file: str
    network: str
    config: str
    source: str = "pytracking"
    mapped: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    initialised: list[dict[str, Any]] = field(default_factory=list)
    placeholders: list[str] = field(default_factory=list)
    checkpoint: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Numbers of mapped / dropped source keys and initialised target keys."""
        return {"mapped": len(self.mapped), "dropped": len(self.dropped), "initialised": len(self.initialised)}

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form with every key."""
        return {"source": self.source, "source_file": self.source_file, "network": self.network,
                "config": self.config, "counts": self.counts(), "checkpoint": self.checkpoint,
                "placeholders": self.placeholders, "notes": self.notes, "mapped": self.mapped,
                "dropped": self.dropped, "initialised": self.initialised}

    def format(self, verbose: bool = False) -> str:
        """Readable report: groups of keys (every key with ``verbose``), placeholders, notes."""
        c = self.counts()
        info = ", ".join(f"{k} {v}" for k, v in self.checkpoint.items() if k != "constructor_kwds" and v is not None)
        lines = [f"{self.source} {self.network} ({info}) from {self.source_file} -> config {self.config}",
                 f"{c['mapped']} {self.source} tensors mapped, {c['dropped']} dropped; "
                 f"{c['initialised']} of our tensors left at initialisation"]
        groups: dict[tuple[str, str, str], list[str]] = {}
        for entry in self.mapped:
            targets = " + ".join(sorted({_group(t) + ".*" for t in entry["targets"]}))
            groups.setdefault(("mapped", f"{_group(entry['source'])}.* -> {targets}", ""), []).append(
                f"{entry['source']} -> {', '.join(entry['targets'])} {tuple(entry['shape'])}")
        for entry in self.dropped:
            groups.setdefault(("dropped", f"{_group(entry['source'])}.*", entry["reason"]), []).append(
                f"{entry['source']} {tuple(entry['shape'])}")
        for entry in self.initialised:
            groups.setdefault(("initialised", f"{_group(entry['target'])}.*", entry["reason"]), []).append(
                f"{entry['target']} {tuple(entry['shape'])}")
        width = max((len(name) for _, name, _ in groups), default=0)
        for (kind, name, reason), keys in groups.items():
            count = f"{len(keys)} tensor{'s' if len(keys) > 1 else ''}"
            lines.append(f"  {kind:<11} {name:<{width}} {count:>11}{': ' + reason if reason else ''}")
            if verbose:
                lines.extend(f"      {key}" for key in keys)
        if self.placeholders:
            lines.append("read as inert placeholders (never imported or run): " + ", ".join(self.placeholders))
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)


def _group(key: str) -> str:
    """Report group of a state-dict key: its first two parts (``feature_extractor.layer3``,
    ``classifier.filter_optimizer``, ``backbone.blocks``, ...), or the first alone for ``bb_regressor`` and
    keys of one part."""
    parts = key.split(".")
    return parts[0] if parts[0] == "bb_regressor" else ".".join(parts[:2])

"""Bundled YAML files addressed by name or by path (model configs, training settings, tracker params),
and the dataclasses built from them."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Union

from rgbt_tracker_ros.errors import InputError


def bundled_names(directory: Path) -> list[str]:
    """Names (file stems) of the YAML files bundled in ``directory``."""
    return sorted(p.stem for p in directory.glob("*.yaml"))


def read_named_yaml(name_or_path: Union[str, Path], directory: Path, what: str) -> tuple[dict[str, Any], Path]:
    """Read ``<directory>/<name>.yaml`` for a bundled name, else the YAML file at the path.

    Returns the mapping and the file it came from. ``what`` names the kind of file in the errors
    (e.g. ``"network config"``): an unknown name (listing the bundled ones), a missing file, invalid
    YAML or a file that does not hold a mapping raise :class:`InputError`.
    """
    import yaml

    text = str(name_or_path)
    path = Path(text)
    if not (text.endswith((".yaml", ".yml")) or path.is_file()):
        path = directory / f"{text}.yaml"
        if not path.is_file():
            raise InputError(f"unknown {what} {text!r}; available: {', '.join(bundled_names(directory))} (or a .yaml path)")
    if not path.is_file():
        raise InputError(f"{what} file not found: {path}")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise InputError(f"{path}: a {what} file must hold a mapping of name: value")
    return values, path


def dataclass_from_mapping(cls: type, values: Any, source: str, what: str, required: tuple[str, ...] = ()) -> Any:
    """Build the dataclass ``cls`` from a mapping read from ``source``.

    ``what`` names one entry in the errors (e.g. ``"config key"``). Not a mapping, unknown or missing
    entries, and values the dataclass rejects raise :class:`InputError` naming ``source``.
    """
    if not isinstance(values, dict):
        raise InputError(f"{source}: expected a mapping of {what}s, got {type(values).__name__}")
    unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise InputError(f"{source}: unknown {what}(s) {', '.join(unknown)}")
    missing = [key for key in required if key not in values]
    if missing:
        raise InputError(f"{source}: missing {what}(s) {', '.join(missing)}")
    try:
        return cls(**values)
    except InputError as exc:  # the dataclass's own check, already naming the entry
        raise InputError(f"{source}: {exc}") from None
    except (TypeError, ValueError) as exc:  # e.g. a string where a number belongs
        raise InputError(f"{source}: invalid {what} value ({exc})") from None

"""Bundled YAML files addressed by name or by path (model configs, training settings, tracker params)."""
from __future__ import annotations

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

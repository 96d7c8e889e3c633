"""Files that are either complete or absent: write to a temporary file beside the target, then rename.

Result files, checkpoints, training states and teacher bundles all go through here, so an
interrupted run never leaves a half-written file under the real name (resuming relies on that).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Union


def write_bytes_atomic(path: Union[str, Path], write: Callable[[BinaryIO], object], suffix: str = ".tmp") -> Path:
    """Call ``write(file)`` on a temporary binary file in ``path``'s folder, then rename it to ``path``.

    ``suffix`` ends the temporary name (some writers, e.g. ``numpy.savez``, care). Parent folders
    are created. On any error the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: Union[str, Path], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`write_bytes_atomic`)."""
    return write_bytes_atomic(path, lambda file: file.write(text.encode("utf-8")))

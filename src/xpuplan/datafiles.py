"""Reading data files with errors that name the file: the one place that parses TOML/JSON/YAML."""

from __future__ import annotations

import json
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from xpuplan.errors import DataError


def data_dir() -> Path:
    """The packaged catalog and model library."""
    return Path(str(resources.files("xpuplan") / "data"))


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except IsADirectoryError as e:
        raise DataError("is a directory, not a file", "Give the path of a file", str(path)) from e
    except FileNotFoundError as e:
        raise DataError("file not found", "Check the path", str(path)) from e
    except OSError as e:
        raise DataError(
            f"cannot read file ({e.strerror})", "Check the path and permissions", str(path)
        ) from e
    if b"\x00" in raw:
        raise DataError("binary file, expected text", "Give a text file", str(path))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError("file is not UTF-8 text", "Save it as UTF-8", str(path)) from e


def read_toml(path: Path) -> dict[str, Any]:
    text = _read_text(path)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise DataError(f"broken TOML: {e}", "Fix the syntax of the file", str(path)) from e


def read_json(path: Path) -> dict[str, Any]:
    text = _read_text(path)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(
            f"broken JSON at line {e.lineno}, column {e.colno}: {e.msg}",
            "Fix the syntax",
            str(path),
        ) from e
    if not isinstance(obj, dict):
        raise DataError("expected a JSON object at the top level", "Give a config.json", str(path))
    return obj


def read_yaml(path: Path) -> Any:
    import yaml

    text = _read_text(path)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise DataError(f"broken YAML: {getattr(e, 'problem', e)}", "Fix the syntax", where) from e


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a regular file through a temporary file beside it and a rename."""
    import os
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)

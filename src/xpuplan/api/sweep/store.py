"""A study's results on disk: one Parquet dataset (a folder of part files), written safely.

::

    llama.parquet/
      _study.json          what the rows are of: the study file's hash, versions, point count
      _lock                held while a sweep writes (a second sweep on the folder is refused)
      part-000000.parquet  one file per finished chunk of points, all with one schema
      ...

A part is written to a hidden temporary file, flushed to disk and renamed into place, so a sweep
killed at any moment leaves only whole parts (readers and globs skip the ``.``/``_`` names).
``--resume`` reads the point ids already written and computes only the others.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xpuplan.api.sweep.point import COLUMNS, versions
from xpuplan.api.sweep.study import Study
from xpuplan.errors import DataError, InputError

MANIFEST = "_study.json"
LOCK = "_lock"
PART_GLOB = "part-*.parquet"


def schema() -> Any:
    import pyarrow as pa

    kinds = {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_()}
    return pa.schema([(name, kinds[kind]) for name, kind in COLUMNS.items()])


def parts(root: Path) -> list[Path]:
    return sorted(root.glob(PART_GLOB))


def read_manifest(root: Path) -> dict[str, Any] | None:
    path = root / MANIFEST
    if not path.is_file():
        return None
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(
            f"unreadable sweep manifest ({e})", "Run the sweep again with --fresh", str(path)
        ) from None
    return obj if isinstance(obj, dict) else None


def _manifest(study: Study) -> dict[str, Any]:
    return {
        "study": study.name,
        "study_file": study.path,
        "study_sha256": study.text_sha256,
        "compute": study.compute,
        "points": len(study.points),
        "excluded": study.excluded,
        "axes": study.axes,
        "versions": versions(),
        "columns": list(COLUMNS),
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def _write_atomic(root: Path, name: str, write: Any) -> Path:
    """``write(tmp_path)`` into a hidden temporary file, flush, rename to ``name``; a failure
    (a full disk) removes the temporary file and says how to go on."""
    fd, tmp = tempfile.mkstemp(dir=root, prefix=f".{name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, root / name)
        with contextlib.suppress(OSError):  # the rename itself, durable where the OS allows
            dfd = os.open(root, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise InputError(
                f"cannot write {root / name} ({e.strerror}); the finished points are kept",
                "Free space or fix the folder, then run again with --resume",
            ) from None
        raise
    return root / name


class Store:
    """The dataset folder of one study, opened for writing (holds the lock)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.next_part = 0
        self._lock: Any = None

    @contextlib.contextmanager
    def open(self, study: Study, resume: bool, fresh: bool) -> Iterator[set[str]]:
        """Lock the folder, check it holds this study (or nothing), yield the ids already done."""
        root = self.root
        if root.exists() and not root.is_dir():
            raise InputError(f"{root} is a file", "Give --out a folder name (e.g. study.parquet)")
        if not root.parent.is_dir():
            raise InputError(f"folder {root.parent} does not exist", "Create it or write elsewhere")
        root.mkdir(exist_ok=True)
        self._take_lock()
        try:
            yield self._prepare(study, resume, fresh)
        finally:
            self._release_lock()

    def _take_lock(self) -> None:
        import fcntl

        f = open(self.root / LOCK, "a+")  # noqa: SIM115 (held for the whole sweep)
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            raise InputError(
                f"another sweep is writing {self.root}", "Wait for it, or give another --out"
            ) from None
        self._lock = f

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _prepare(self, study: Study, resume: bool, fresh: bool) -> set[str]:
        root = self.root
        for tmp in root.glob(".part-*.tmp"):  # a temporary part of a killed sweep: never finished
            tmp.unlink(missing_ok=True)
        old = read_manifest(root)
        existing = parts(root)
        others = [p for p in root.iterdir() if p.name not in (MANIFEST, LOCK) and not p.name.startswith(".")]
        if old is None and others:
            raise InputError(f"{root} is not empty and holds no sweep", "Give --out a new or empty folder")
        if fresh:
            for p in existing:
                p.unlink()
            existing = []
        elif existing and not resume:
            raise InputError(
                f"{root} already holds {len(existing)} part(s) of a sweep",
                "Add --resume to continue it, --fresh to start over, or give another --out",
            )
        elif existing and old is not None:
            _check_same(root, old, study)
        if not existing or old is None:
            _write_atomic(
                root, MANIFEST, lambda tmp: Path(tmp).write_text(json.dumps(_manifest(study), indent=2))
            )
        self.next_part = 1 + max((int(p.stem.split("-")[1]) for p in existing), default=-1)
        return done_ids(root)

    def write_part(self, rows: list[dict[str, Any]]) -> Path:
        """One finished chunk of rows as the next part file (temporary file, then rename)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(rows, schema=schema())
        name = f"part-{self.next_part:06d}.parquet"
        path = _write_atomic(self.root, name, lambda tmp: pq.write_table(table, tmp))
        self.next_part += 1
        return path


def _check_same(root: Path, old: dict[str, Any], study: Study) -> None:
    if old.get("study_sha256") != study.text_sha256:
        raise InputError(
            f"{root} holds a sweep of another version of the study file",
            "Run with --fresh to start over, or give another --out",
        )
    now = versions()
    was = old.get("versions") or {}
    for key in ("catalog_version", "model_version"):
        if was.get(key) != now[key]:
            raise InputError(
                f"{root} was computed with {key} {was.get(key)}, this xpuplan has {now[key]}",
                "Run with --fresh to recompute it with this version, or give another --out",
            )


def _read(path: Path, columns: list[str] | None = None) -> Any:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path, columns=columns, schema=schema())
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise DataError(
            f"unreadable part ({e})", "Delete the file and run again with --resume", str(path)
        ) from None


def done_ids(root: Path) -> set[str]:
    out: set[str] = set()
    for p in parts(root):
        out.update(_read(p, ["point_id"]).column("point_id").to_pylist())
    return out


def read_rows(root: Path) -> list[dict[str, Any]]:
    """Every row of the dataset, once per point, in point order."""
    if not root.is_dir() or read_manifest(root) is None:
        raise InputError(
            f"{root} holds no sweep results", "Run 'xpuplan sweep STUDY.toml' first, or give --out"
        )
    seen: dict[str, dict[str, Any]] = {}
    for p in parts(root):
        for row in _read(p).to_pylist():
            seen.setdefault(row["point_id"], row)
    return sorted(seen.values(), key=lambda r: r["index"])

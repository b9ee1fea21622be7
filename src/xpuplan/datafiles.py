"""Safe file I/O: the one place that reads TOML/JSON/YAML and the one place that writes outputs.

Reading (``read_toml``, ``read_json``, ``read_yaml``):

* only a regular file, at most :data:`MAX_BYTES`, is read (``/dev/zero``, a pipe or a folder are
  refused before a byte is read); UTF-8, a leading byte-order mark tolerated;
* brackets nested deeper than :data:`MAX_DEPTH` are refused *before* parsing (no RecursionError),
  and the parsed value is checked again (YAML nests by indentation too);
* duplicate keys are refused in every format (TOML does so itself; JSON and YAML would keep the
  last one silently); JSON integers longer than :data:`MAX_INT_DIGITS` digits, NaN and Infinity
  are refused; every number must be finite;
* control characters (ANSI/OSC escape sequences, bidi overrides) are removed from strings, so a
  name from a file cannot drive the terminal;
* with a :data:`Schema`, unknown keys are refused with "did you mean …" (or, with
  ``unknown="warn"``, reported once each unless they are a misspelling of a known key) and numbers
  are checked against their stated ranges.

Every refusal is a :class:`DataError` naming the file (with the line where it can be found) and
the key: one line, exit code 2 in the CLI.

Writing (``check_output``, ``write_text``): only to a regular file or a new path in an existing
folder, through a temporary file in the same folder and an atomic rename. A symlink is followed
only to a regular file (or a new file in an existing folder); a device, a pipe, a socket or a
folder is never written through. ``-`` (standard output) is the caller's to handle.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import json
import math
import os
import re
import stat
import tempfile
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Literal

from xpuplan.errors import DataError, InputError

MAX_BYTES = 8 * 2**20  # the largest input file read (the packaged case files are ~100 kB)
MAX_DEPTH = 32  # tables / lists within each other (real files use 4–6)
MAX_INT_DIGITS = 30  # longer integers are no count or size of anything
MAX_VALUES = 1_000_000  # values in one file (YAML aliases can multiply a small file)

Kind = Literal["toml", "json", "yaml"]


def data_dir() -> Path:
    """The packaged catalog and model library."""
    return Path(str(resources.files("xpuplan") / "data"))


# ---- terminal safety ---------------------------------------------------------------------------

# C0 controls but tab and newline, DEL, C1 controls (U+009B is a one-character CSI), bidi overrides
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def strip_controls(text: str) -> str:
    """``text`` without control characters: an ESC or OSC sequence loses its introducer and is
    left as harmless printable text (tab and newline are kept)."""
    return _CONTROL.sub("", text)


# ---- reading -----------------------------------------------------------------------------------


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def is_file(path: Path) -> bool:
    """Whether ``path`` names a file, for a name that may be a path or not (a model id, say): a
    name the system cannot look up (too long, say) is not a file rather than an ``OSError``."""
    try:
        return path.is_file()
    except OSError:
        return False


def is_dir(path: Path) -> bool:
    """Whether ``path`` names a folder; a name the system cannot look up is not one."""
    try:
        return path.is_dir()
    except OSError:
        return False


def read_bytes(path: Path, limit: int = MAX_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (anything else: :class:`DataError`)."""
    where = str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DataError("file not found", "Check the path", where) from None
    except OSError as e:
        raise DataError(f"cannot read file ({e.strerror})", "Check the path and permissions", where) from None
    if stat.S_ISDIR(st.st_mode):
        raise DataError("is a directory, not a file", "Give the path of a file", where)
    if not stat.S_ISREG(st.st_mode):
        raise DataError(f"is {_kind_of(st.st_mode)}, not a regular file", "Give the path of a file", where)
    if st.st_size > limit:
        raise DataError(
            f"file is {st.st_size:,} bytes, more than the {limit:,} an input may have",
            "Give a smaller file",
            where,
        )
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # swapped since the stat
                raise DataError("is not a regular file", "Give the path of a file", where)
            raw = f.read(limit + 1)
    except OSError as e:
        raise DataError(f"cannot read file ({e.strerror})", "Check the path and permissions", where) from None
    if len(raw) > limit:
        raise DataError(f"file is more than {limit:,} bytes", "Give a smaller file", where)
    return raw


def _read_text(path: Path) -> str:
    raw = read_bytes(path)
    if b"\x00" in raw:
        raise DataError("binary file, expected text", "Give a text file", str(path))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError("file is not UTF-8 text", "Save it as UTF-8", str(path)) from None
    return text.removeprefix("\ufeff")  # a byte-order mark some editors write


def read_text(path: Path) -> str:
    """A regular UTF-8 text file of at most :data:`MAX_BYTES` (a byte-order mark dropped)."""
    return _read_text(Path(path))


def _scan_depth(text: str, kind: Kind) -> int:
    """Deepest nesting of ``[``/``{`` outside strings and comments (a linear scan, no parser)."""
    depth = deepest = 0
    i, n = 0, len(text)
    prev = "\n"
    while i < n:
        ch = text[i]
        if ch == "#" and kind != "json" and (kind == "toml" or prev in " \t\n,[{"):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if ch == '"' or (ch == "'" and kind != "json" and (kind == "toml" or prev in " \t\n,[{:-")):
            i = _string_end(text, i, ch, kind)
            prev = ch
            continue
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(depth - 1, 0)
        if not ch.isspace() or ch == "\n":
            prev = ch
        i += 1
    return deepest


def _string_end(text: str, i: int, quote: str, kind: Kind) -> int:
    """Index just past the string opened at ``i`` (TOML triple quotes too)."""
    if kind == "toml" and text.startswith(quote * 3, i):
        j = text.find(quote * 3, i + 3)
        return len(text) if j < 0 else j + 3
    j = i + 1
    while j < len(text):
        c = text[j]
        if c == "\\" and quote == '"':
            j += 2
            continue
        if c == quote:
            if kind == "yaml" and quote == "'" and text.startswith("''", j):
                j += 2
                continue
            return j + 1
        if c == "\n" and kind != "yaml":
            return j
        j += 1
    return j


def _line_of(text: str, key: str) -> int | None:
    m = re.search(rf"^[ \t\-]*[\"']?{re.escape(key)}[\"']?[ \t]*[=:]", text, re.M)
    return text.count("\n", 0, m.start()) + 1 if m else None


def _where(path: Path, text: str, keys: tuple[str | int, ...]) -> str:
    last = next((k for k in reversed(keys) if isinstance(k, str)), None)
    line = _line_of(text, last) if last is not None else None
    return f"{path}:{line}" if line else str(path)


def key_path(keys: tuple[str | int, ...]) -> str:
    """``("jobs", 0, "tokens")`` → ``jobs[1].tokens`` (lists counted from 1, as people count)."""
    out = ""
    for k in keys:
        out += f"[{k + 1}]" if isinstance(k, int) else (f".{k}" if out else str(k))
    return out


def _clean(obj: Any, path: Path, text: str) -> Any:
    """Check depth, count and finiteness; strip control characters from strings and keys."""
    count = 0

    def walk(v: Any, keys: tuple[str | int, ...]) -> Any:
        nonlocal count
        count += 1
        if count > MAX_VALUES:
            raise DataError(f"more than {MAX_VALUES:,} values", "Give a smaller file", str(path))
        if len(keys) > MAX_DEPTH:
            raise DataError(
                f"nested more than {MAX_DEPTH} levels deep at '{key_path(keys[:4])}…'",
                "Flatten the file",
                str(path),
            )
        if isinstance(v, str):
            return strip_controls(v)
        if isinstance(v, float) and not math.isfinite(v):
            raise DataError(
                f"'{key_path(keys)}' = {v} is not a finite number",
                "Give a finite number",
                _where(path, text, keys),
            )
        if isinstance(v, dict):
            return {strip_controls(str(k)): walk(x, (*keys, str(k))) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x, (*keys, i)) for i, x in enumerate(v)]
        return v

    return walk(obj, ())


def _parse(path: Path, kind: Kind, parse: Callable[[str], Any]) -> tuple[Any, str]:
    text = _read_text(path)
    depth = _scan_depth(text, kind)
    if depth > MAX_DEPTH:
        raise DataError(
            f"brackets nested {depth} deep, more than the {MAX_DEPTH} an input may have",
            "Flatten the file",
            str(path),
        )
    try:
        obj = parse(text)
    except DataError:
        raise
    except RecursionError:
        raise DataError(
            f"nested too deeply to read as {kind.upper()}", "Flatten the file", str(path)
        ) from None
    except (ValueError, TypeError, OverflowError) as e:  # e.g. an integer of 5,000 digits
        raise DataError(
            f"broken {kind.upper()}: {' '.join(str(e).split())}", "Fix the syntax", str(path)
        ) from None
    return _clean(obj, path, text), text


def read_toml(path: Path, schema: Schema | None = None) -> dict[str, Any]:
    """A TOML file as a mapping (checked against ``schema`` when given)."""

    def parse(text: str) -> Any:
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise DataError(f"broken TOML: {e}", "Fix the syntax of the file", str(path)) from None

    obj, text = _parse(Path(path), "toml", parse)
    if schema is not None:
        check_schema(obj, schema, Path(path), text)
    return obj


def _json_int(s: str) -> int:
    if len(s.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(s.lstrip('-')):,} digits")
    return int(s)


def _json_constant(s: str) -> Any:
    raise ValueError(f"{s} is not a number JSON allows")


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _Duplicate(k)
        out[k] = v
    return out


class _Duplicate(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def read_json(path: Path, schema: Schema | None = None) -> dict[str, Any]:
    """A JSON object (duplicate keys, NaN, Infinity and giant integers refused)."""

    def parse(text: str) -> Any:
        try:
            return json.loads(
                text, object_pairs_hook=_json_pairs, parse_int=_json_int, parse_constant=_json_constant
            )
        except _Duplicate as e:
            raise DataError(
                f"key '{e.key}' appears twice in one object",
                "Keep one of them",
                _where(Path(path), text, (e.key,)),
            ) from None
        except json.JSONDecodeError as e:
            raise DataError(
                f"broken JSON at line {e.lineno}, column {e.colno}: {e.msg}", "Fix the syntax", str(path)
            ) from None

    obj, text = _parse(Path(path), "json", parse)
    if not isinstance(obj, dict):
        raise DataError("expected a JSON object at the top level", "Give a config.json", str(path))
    if schema is not None:
        check_schema(obj, schema, Path(path), text)
    return obj


def _yaml_loader() -> type:
    import yaml

    class StrictLoader(yaml.SafeLoader):
        """SafeLoader that refuses a key given twice in one mapping."""

    def construct_mapping(loader: Any, node: Any, deep: bool = False) -> dict[Any, Any]:
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=deep)
            try:
                seen = key in out
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, "a key that is a list or a mapping", key_node.start_mark
                ) from None
            if seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' appears twice in one mapping", key_node.start_mark
                )
            out[key] = loader.construct_object(value_node, deep=deep)
        return out

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return StrictLoader


def read_yaml(path: Path, schema: Schema | None = None, unknown: Unknown = "error") -> Any:
    """A YAML document (safe types only; duplicate keys refused). With ``schema`` it is checked:
    see :func:`check_schema` (warnings, with ``unknown="warn"``, are dropped here: call
    :func:`read_yaml_checked` to get them)."""
    return read_yaml_checked(path, schema, unknown)[0]


def read_yaml_checked(
    path: Path, schema: Schema | None = None, unknown: Unknown = "error"
) -> tuple[Any, list[str]]:
    """:func:`read_yaml` and the warnings the schema check gave (unknown keys, once each)."""
    import yaml

    loader = _yaml_loader()

    def parse(text: str) -> Any:
        try:
            return yaml.load(text, Loader=loader)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
            raise DataError(f"broken YAML: {getattr(e, 'problem', e)}", "Fix the syntax", where) from None

    obj, text = _parse(Path(path), "yaml", parse)
    warnings = check_schema(obj, schema, Path(path), text, unknown) if schema is not None else []
    return obj, warnings


# ---- schemas -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    """One key of a file: its kind, the range of a number, and what it means (for the docs).

    ``kind``: ``num`` | ``int`` | ``str`` | ``bool`` | ``date`` | ``strs`` (a string or a list
    of strings) | ``nums`` (a number or a list) | ``table`` (free keys) | ``list`` | ``any``;
    ``num|text`` / ``int|text``: a number in range, or free text.
    """

    kind: str = "any"
    lo: float = -math.inf
    hi: float = math.inf
    doc: str = ""
    nullable: bool = False
    open_lo: bool = False  # lo itself is out of range (a positive quantity: lo = 0, open_lo)
    open_hi: bool = False  # hi itself is out of range

    def span(self) -> str:
        return f"{'(' if self.open_lo else '['}{self.lo:g}, {self.hi:g}{')' if self.open_hi else ']'}"

    def holds(self, x: float) -> bool:
        """Whether the number ``x`` is finite and in range."""
        return (
            math.isfinite(x)
            and self.lo <= x <= self.hi
            and not (self.open_lo and x == self.lo)
            and not (self.open_hi and x == self.hi)
        )


def positive(hi: float, doc: str = "", kind: str = "num", nullable: bool = False) -> Field:
    """A number > 0 and ≤ ``hi``."""
    return Field(kind, 0.0, hi, doc, nullable, open_lo=True)


def number_problem(name: str, x: Any, f: Field, integer: bool = False) -> tuple[str, str] | None:
    """What is wrong with ``x`` as the number ``name`` in the range of ``f``: a message and a fix
    hint, or None. The one check of a number a user gives (a file's key, a claim's or a scenario's,
    an argument of the API or the CLI); each caller raises its own error with the pair."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return f"'{name}' must be a number, got {_show(x)}", "Write a plain number"
    if not f.holds(x):
        return f"'{name}' = {_show(x)} is out of range", f"Give a value in {f.span()}"
    if integer and int(x) != x:
        return f"'{name}' must be a whole number, got {x}", "Drop the fraction"
    return None


# A schema maps each allowed key to a Field, a nested schema (a table) or a one-element list
# holding a schema (an array of tables).
Schema = Mapping[str, Any]
Unknown = Literal["error", "warn"]


def _suggest(key: str, known: list[str], cutoff: float = 0.6) -> str | None:
    close = difflib.get_close_matches(key, known, n=1, cutoff=cutoff)
    return close[0] if close else None


def check_schema(
    obj: Any, schema: Schema, path: Path, text: str = "", unknown: Unknown = "error"
) -> list[str]:
    """Check ``obj`` against ``schema``: unknown keys, value kinds and number ranges.

    ``unknown="error"``: an unknown key is a :class:`DataError` with "did you mean …".
    ``unknown="warn"``: an unknown key that is close to a known one is still an error (a
    misspelling); any other is returned as a warning, once per key path."""
    warnings: dict[str, None] = {}

    def fail(keys: tuple[str | int, ...], msg: str, hint: str) -> DataError:
        return DataError(msg, hint, _where(path, text, keys))

    def table(d: Any, sch: Schema, keys: tuple[str | int, ...]) -> None:
        if not isinstance(d, dict):
            raise fail(keys, f"'{key_path(keys)}' must be a table, got {_show(d)}", "See the file's schema")
        known = list(sch)
        for k, v in d.items():
            here = (*keys, k)
            if k not in sch:
                # warn mode: an annotation (``*_stat``) or a key unlike any known one is listed
                annotation = unknown == "warn" and k.endswith("_stat")
                close = None if annotation else _suggest(k, known, 0.6 if unknown == "error" else 0.85)
                if unknown == "warn" and close is None:
                    warnings[f"unknown key '{key_path(tuple(x for x in here if isinstance(x, str)))}'"] = None
                    continue
                hint = f"Did you mean '{close}'?" if close else "Known keys: " + ", ".join(known)
                raise fail(here, f"unknown key '{key_path(here)}'", hint)
            value(v, sch[k], here)

    def value(v: Any, spec: Any, keys: tuple[str | int, ...]) -> None:
        if isinstance(spec, Mapping):
            if v is None:
                return
            table(v, spec, keys)
        elif isinstance(spec, list):
            if not isinstance(v, list):
                raise fail(
                    keys, f"'{key_path(keys)}' must be a list of tables, got {_show(v)}", "See the schema"
                )
            for i, x in enumerate(v):
                table(x, spec[0], (*keys, i))
        else:
            field(v, spec, keys)

    def field(v: Any, f: Field, keys: tuple[str | int, ...]) -> None:
        name = key_path(keys)
        if v is None and (f.nullable or f.kind == "any"):
            return
        kind = f.kind
        if kind.endswith("|text"):  # a number (range-checked) or free text where a source wrote it
            if isinstance(v, str):
                try:
                    v = float(v)  # YAML reads 1e308 (no dot) as text: still a number
                except ValueError:
                    return
            kind = kind.removesuffix("|text")
        if kind in ("num", "int", "nums"):
            for x in v if (kind == "nums" and isinstance(v, list)) else [v]:
                number(x, f, keys, integer=kind == "int")
        elif kind in ("str", "strs"):
            ok = isinstance(v, str) or (
                kind == "strs" and isinstance(v, list) and all(isinstance(x, str) for x in v)
            )
            if not ok:
                raise fail(keys, f"'{name}' must be text, got {_show(v)}", "Quote the value")
        elif kind == "bool" and not isinstance(v, bool):
            raise fail(keys, f"'{name}' must be true or false, got {_show(v)}", "Write true or false")
        elif kind == "date" and not isinstance(v, dt.date | str):
            raise fail(keys, f"'{name}' must be a date, got {_show(v)}", "Write YYYY-MM-DD")
        elif kind == "table" and not isinstance(v, dict):
            raise fail(keys, f"'{name}' must be a table, got {_show(v)}", "See the schema")
        elif kind == "list" and not isinstance(v, list):
            raise fail(keys, f"'{name}' must be a list, got {_show(v)}", "See the schema")

    def number(x: Any, f: Field, keys: tuple[str | int, ...], integer: bool) -> None:
        name = key_path(keys)
        if x is None and f.nullable:
            return
        problem = number_problem(name, x, f, integer)
        if problem is not None:
            raise fail(keys, *problem)

    if isinstance(schema, list):
        value(obj, schema, ())
    else:
        table(obj, schema, ())
    return list(warnings)


def _show(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def schema_markdown(schema: Schema, prefix: str = "") -> str:
    """The keys of ``schema`` as a Markdown list (what the docs' key tables are generated from)."""
    lines: list[str] = []
    for k, spec in schema.items():
        name = f"{prefix}{k}"
        if isinstance(spec, Mapping):
            lines.append(f"- `[{name}]` (table)")
            lines.append(schema_markdown(spec, name + "."))
        elif isinstance(spec, list):
            lines.append(f"- `[[{name}]]` (array of tables)")
            lines.append(schema_markdown(spec[0], name + "."))
        else:
            rng = ""
            if spec.kind.removesuffix("|text") in ("num", "int", "nums") and (
                math.isfinite(spec.lo) or math.isfinite(spec.hi)
            ):
                rng = f", {spec.span()}"
            doc = f": {spec.doc}" if spec.doc else ""
            lines.append(f"- `{name}` ({spec.kind}{rng}){doc}")
    return "\n".join(x for x in lines if x)


# ---- writing -----------------------------------------------------------------------------------


def _target(path: Path) -> Path:
    """Where writing ``path`` lands: the path itself, or the regular file a symlink points at.

    Refused (:class:`InputError`): a folder, a device, a pipe or a socket (also behind a
    symlink), a dangling or looping symlink, a missing folder."""
    p = Path(path)
    if str(p) in ("", "."):
        raise InputError("no output file named", "Give a file name")
    try:
        lst = os.lstat(p)
    except FileNotFoundError:
        lst = None
    except OSError as e:
        raise InputError(f"cannot write {p} ({e.strerror})", "Write elsewhere") from None
    if lst is not None and stat.S_ISLNK(lst.st_mode):
        try:
            real = Path(os.path.realpath(p, strict=True))
        except (OSError, RuntimeError):
            raise InputError(
                f"{p} is a symbolic link to nothing that exists", "Give a regular file or a new path"
            ) from None
        st = os.stat(real)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(
                f"{p} is a symbolic link to {_kind_of(st.st_mode)}, not a regular file",
                "Give a regular file or a new path",
            )
        return real
    if lst is not None:
        if stat.S_ISDIR(lst.st_mode):
            raise InputError(f"{p} is a folder", "Give a file name")
        if not stat.S_ISREG(lst.st_mode):
            raise InputError(
                f"{p} is {_kind_of(lst.st_mode)}, not a regular file: it is never written through",
                "Give a regular file or a new path",
            )
    parent = p.absolute().parent
    if not parent.is_dir():
        raise InputError(f"folder {parent} does not exist", "Create it or write elsewhere")
    return p


def check_output(path: Path) -> Path:
    """Check up front that ``path`` can be written (before any work is done); the target."""
    return _target(path)


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and an atomic rename
    (a replaced file keeps its permissions); nothing is left behind on failure. The path written."""
    target = _target(path)
    folder = target.absolute().parent
    try:
        old_mode: int | None = stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        old_mode = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as e:
        raise InputError(f"cannot write in {folder} ({e.strerror})", "Write elsewhere") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if old_mode is None:
            umask = os.umask(0)
            os.umask(umask)
            old_mode = 0o666 & ~umask  # mkstemp makes 0600; give a new file the usual mode
        os.chmod(tmp, old_mode)
        os.replace(tmp, target)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise InputError(f"cannot write {path} ({e.strerror})", "Check the path and free space") from None
        raise
    return target


class KeyLocator:
    """Errors that point at the line of a key in a TOML-like file (``file:line``)."""

    def __init__(self, path: Path, text: str) -> None:
        self.path, self.text = path, text

    def where(self, key: str) -> str:
        m = re.search(rf"^\s*\"?{re.escape(key)}\"?\s*=", self.text, re.M)
        line = self.text[: m.start()].count("\n") + 1 if m else None
        return f"{self.path}:{line}" if line else str(self.path)

    def fail(self, key: str, msg: str, hint: str) -> DataError:
        return DataError(msg, hint, self.where(key))


class NumberReader:
    """``num``: a number key of a mapping, checked by :func:`number_problem` and refused with
    ``fail``. The class attributes say a file kind's conventions."""

    optional: ClassVar[bool] = False  # a missing key gives its default unchecked (else: required)
    open_lo: ClassVar[bool] = False  # ``lo`` itself is out of range
    open_hi: ClassVar[bool] = False  # ``hi`` itself is out of range
    int_results: ClassVar[bool] = False  # an ``integer`` key reads as an int (else: a float)

    def fail(self, key: str, msg: str, hint: str) -> DataError:
        raise NotImplementedError

    def num(
        self,
        d: Mapping[str, Any],
        key: str,
        default: float | None = None,
        lo: float = 0.0,
        hi: float = math.inf,
        integer: bool = False,
    ) -> Any:
        v = d.get(key)
        if v is None:
            if self.optional:
                return default
            if default is None:
                raise self.fail(key, f"missing required key '{key}'", f"Add {key} = <number>")
            v = default
        return self.check_num(key, v, lo, hi, integer)

    def check_num(self, key: str, v: Any, lo: float, hi: float, integer: bool) -> Any:
        f = Field("num", lo, hi, open_lo=self.open_lo, open_hi=self.open_hi)
        problem = number_problem(key, v, f, integer)
        if problem is not None:
            raise self.fail(key, *problem)
        return int(v) if integer and self.int_results else float(v)


def _plain(v: Any) -> Any:
    if isinstance(v, Enum):
        return v.value
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v.to_dict() if hasattr(v, "to_dict") else v


def as_dict(obj: Any, *names: str, rename: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A record as a JSON-ready dict: the attributes ``names`` (default: its dataclass fields in
    order), each under ``rename.get(name, name)``; an enum gives its value, a record with a
    ``to_dict`` its dict, a list each item so. The one home of the field lists that ``to_dict``
    methods would otherwise spell out key by key."""
    ren = rename or {}
    return {ren.get(n, n): _plain(getattr(obj, n)) for n in names or tuple(f.name for f in fields(obj))}


class FieldsDict:
    """``to_dict`` for a record whose JSON form is its attributes as they stand (a shallow copy of
    ``__dict__``: enums and nested records left as they are, unlike :func:`as_dict`); a mixin of
    dataclasses without slots."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

"""datafiles.as_dict: the one serialiser behind the records' ``to_dict`` (issue 12)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from xpuplan.datafiles import as_dict
from xpuplan.hardware.records import Interval


class Colour(Enum):
    RED = "red"


@dataclass(frozen=True)
class Part:
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "twice": 2 * self.n}


@dataclass(frozen=True)
class Rec:
    a: int
    colour: Colour
    part: Part | None
    parts: list[Part] = field(default_factory=list)
    names: tuple[str, ...] = ()

    @property
    def double(self) -> int:
        return 2 * self.a


def test_fields_in_order_with_enums_records_and_lists_made_plain() -> None:
    r = Rec(3, Colour.RED, Part(1), [Part(2)], ("x",))
    assert as_dict(r) == {
        "a": 3,
        "colour": "red",
        "part": {"n": 1, "twice": 2},
        "parts": [{"n": 2, "twice": 4}],
        "names": ("x",),  # a tuple stays as it is
    }
    assert list(as_dict(r)) == ["a", "colour", "part", "parts", "names"]


def test_names_pick_attributes_and_properties_in_their_order_and_rename_keys() -> None:
    r = Rec(3, Colour.RED, None)
    d = as_dict(r, "double", "part", "a", rename={"a": "alpha"})
    assert list(d.items()) == [("double", 6), ("part", None), ("alpha", 3)]


def test_interval_keys_as_before() -> None:
    d = Interval(0.9, 1.2, "nvidia/train", 12).to_dict()
    assert list(d.items()) == [
        ("level", 0.8),
        ("low_factor", 0.9),
        ("high_factor", 1.2),
        ("basis", "nvidia/train"),
        ("n", 12),
    ]

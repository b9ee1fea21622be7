"""What a claim check produces (cases, break-even thresholds) and the parsing its methods share.

The methods themselves are in :mod:`xpuplan.claims.compare` (train, serve, spec: subject vs
baseline) and :mod:`xpuplan.claims.absolute` (facility power, on-device latency, a hybrid
request mix, outside the model); :mod:`xpuplan.claims.checks` is their registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from xpuplan.claims.spec import UNITS, CheckSpec, Claimed, Kind, Reader
from xpuplan.datafiles import as_dict
from xpuplan.hardware.catalog import Catalog
from xpuplan.hardware.records import Chip, Pricing
from xpuplan.perf.params import PerfParams
from xpuplan.workload.job import WEIGHT_FORMATS
from xpuplan.workload.library import get_model, model_from_dict
from xpuplan.workload.model import Model


@dataclass(frozen=True, slots=True)
class Threshold:
    """The value of one input at which the claim would just hold (a break-even)."""

    what: str  # "aws-trn2.48xlarge price", "tpu-v7 power"
    bound: str  # "≤": holds at or below; "≥": at or above
    value: float
    unit: str  # "USD/chip-h" | "W/chip"
    current: float | None = None
    current_is: str = "now"  # what ``current`` is: the price now, or an "assumed" power

    def to_dict(self) -> dict[str, Any]:
        return as_dict(self)


@dataclass(frozen=True)
class Case:
    """One comparison of a check (a subject vs a baseline, one precision, one assumption corner)."""

    label: str
    value: float | None  # in the check's unit; None: cannot be computed (see note)
    met: bool | None  # None: no price/TDP on record, or an informational figure
    threshold: Threshold | None = None
    note: str = ""
    inputs: Mapping[str, Any] = field(default_factory=dict)
    # facts the case needs that are not published (or not on record by the pricing date): the value
    # is then None, or computed only under an assumption standing in for the fact
    missing: tuple[str, ...] = ()
    # 80% prediction interval of ``value`` (from the compared runs' cross-validated intervals)
    interval: tuple[float, float] | None = None

    def decided(self, claimed: Claimed | None) -> bool:
        """Whether the claim's verdict on this case holds across its 80% interval: False when the
        interval straddles the claimed threshold (not decidable within the model's accuracy)."""
        if claimed is None or self.value is None or self.interval is None:
            return True
        lo, hi = self.interval
        if claimed.kind is Kind.ABOUT and lo < claimed.low * (1 - claimed.tolerance):
            return hi < claimed.low * (1 - claimed.tolerance)  # below the band throughout
        return claimed.meets(lo) == claimed.meets(hi) == claimed.meets(self.value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "value": self.value,
            "interval": None
            if self.interval is None
            else {"low": self.interval[0], "high": self.interval[1]},
            "met": self.met,
            "threshold": None if self.threshold is None else self.threshold.to_dict(),
            "note": self.note,
            "missing": list(self.missing),
            "inputs": dict(self.inputs),
        }


@dataclass(frozen=True)
class Outcome:
    cases: tuple[Case, ...]
    assumptions: tuple[str, ...] = ()  # what the figures rest on, in words (all of it)
    assumed: tuple[str, ...] = ()  # the inputs among them that are assumptions, not published or fitted
    missing: tuple[str, ...] = ()  # facts a check with no cases needs and nobody publishes (outside)


def judge(claimed: Claimed | None, case: Case) -> Case:
    """Set ``met`` from the claimed figure (RANGE: a value above the range is noted)."""
    if claimed is None or case.value is None:
        return case
    note = case.note
    if claimed.kind is Kind.RANGE and case.value > claimed.high * (1.0 + claimed.tolerance):
        note = "; ".join(x for x in (note, "above the claimed range") if x)
    return replace(case, met=claimed.meets(case.value), note=note)


# ---- shared parsing ------------------------------------------------------------------------------


PROVIDERS = ("aws", "gcp", "azure", "oci")  # id prefixes dropped from case labels


def short_id(record_id: str) -> str:
    """A system id without its provider prefix, for case labels ('trn2.48xlarge')."""
    head, _, rest = record_id.partition("-")
    return rest if head in PROVIDERS and rest else record_id


def need_dimension(r: Reader, spec: CheckSpec, dim: str) -> None:
    if UNITS[spec.unit][0] != dim:
        good = ", ".join(u for u, (d, _) in UNITS.items() if d == dim)
        raise r.fail("unit", f"unit '{spec.unit}' does not fit this check ({dim})", f"Use {good}")
    if dim == "fraction" and spec.claimed is not None and spec.claimed.high >= 1.0:
        raise r.fail("value", "a fraction (e.g. lower cost) must be below 1", "Write 40% as 0.40")


def open_test(r: Reader, d: Mapping[str, Any], spec: CheckSpec, keys: Sequence[str], dim: str) -> None:
    """Open a check's test table ``d``: no key outside ``keys``, and the check's unit of the
    dimension ``dim`` the test measures (:func:`need_dimension`)."""
    r.only(d, keys)
    need_dimension(r, spec, dim)


def parse_model(r: Reader, d: Mapping[str, Any], spec: CheckSpec, key: str = "model") -> Model:
    """A model defined in the claim file ([models.<id>]), an inline table, or a library id."""
    v = d.get(key)
    if isinstance(v, dict):
        return model_from_dict(v, f"{r.where}, key '{key}'")
    name = r.text(d, key)
    return spec.models[name] if name in spec.models else get_model(name)


def systems(r: Reader, d: Mapping[str, Any], key: str, cat: Catalog) -> tuple[str, ...]:
    return tuple(cat.system(s).id for s in r.texts(d, key))


def pricings(r: Reader, d: Mapping[str, Any]) -> tuple[Pricing, ...]:
    kinds = r.texts(d, "pricing", ["on_demand"])
    return tuple(Pricing(r.choice({"pricing": k}, "pricing", [p.value for p in Pricing])) for k in kinds)


def chip_counts(r: Reader, d: Mapping[str, Any], ids: tuple[str, ...], cat: Catalog) -> dict[str, int]:
    """``chips`` as one number for every system, a table per system, or one node each by default."""
    v = d.get("chips")
    if v is None:
        return {s: cat.systems[s].chips_per_node for s in ids}
    if isinstance(v, dict):
        per = {cat.system(k).id: int(r.num(v, k, None, 1, 1e7, integer=True)) for k in v}
        missing = [s for s in ids if s not in per]
        if missing:
            raise r.fail("chips", f"no chip count for {', '.join(missing)}", "Add them to the chips table")
        return per
    n = int(r.num(d, "chips", None, 1, 1e7, integer=True))
    return dict.fromkeys(ids, n)


def weight_formats(r: Reader, d: Mapping[str, Any], key: str = "weights") -> tuple[str, ...]:
    w = r.texts(d, key, ["bf16"])
    for x in w:
        r.choice({key: x}, key, WEIGHT_FORMATS)
    return w


def assumed_efficiency(chip: Chip) -> str | None:
    """The chip's efficiencies when the catalog says they are assumed, not fitted to measured runs."""
    prov = chip.efficiency.provenance
    if prov is None or "assum" in prov.source.lower():
        basis = "no provenance" if prov is None else prov.source.split(";")[0].split(" (")[0]
        return f"{chip.id} efficiencies ({basis})"
    return None


def assumed_field(chip: Chip, key: str, what: str) -> str | None:
    """A catalog figure whose provenance says it is an assumption (derived, not published)."""
    prov = chip.provenance.get(key)
    if prov is not None and "assum" in f"{prov.source} {prov.note}".lower():
        return f"{chip.id} {what} ({prov.source.split(':')[0].split(' (')[0]}: an assumption)"
    return None


def millis(r: Reader, d: Mapping[str, Any], key: str) -> float | None:
    v = r.opt_num(d, key, 1e-6)
    return None if v is None else v / 1e3


@dataclass(frozen=True)
class MethodDef:
    """A method: parse the ``[checks.test]`` table into a record, run the record."""

    parse: Callable[[Reader, Mapping[str, Any], CheckSpec, Catalog], Any]
    run: Callable[[Any, CheckSpec, Catalog, PerfParams, str | None], Outcome]  # last: price date

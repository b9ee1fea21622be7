"""Price rows from the clouds' own price exports, and a check of the catalog's provenance.

``refresh`` reads one public price-list export — AWS's EC2 price-list JSON (the bulk API's offer
file), Google Cloud's SKU export (Cloud Billing Catalog API ``skus.list``) or Azure's retail
prices JSON (``prices.azure.com/api/retail/prices``) — and turns the SKUs of catalog systems into
:class:`Price` rows with the export's URL, the SKU as locator and the SKU's effective date, the
same rows ``prices.csv`` holds (:func:`price_rows_csv`). Which SKU is which system is data: AWS
instance types and Azure ARM SKU names resolve through system aliases, Google's SKU descriptions
through ``[gcp]`` in ``data/price_keys.toml``.

``check`` lists records whose source has no URL, whose date is only a year (or year and month),
or whose value disagrees with a figure its note states (a price's "$X per GPU-hour").
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xpuplan.datafiles import data_dir, read_toml
from xpuplan.errors import DataError, UnknownNameError
from xpuplan.hardware.catalog import Catalog
from xpuplan.hardware.records import Price, Pricing

AWS_URL = "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonEC2/current/{region}/index.json"
GCP_URL = "https://cloudbilling.googleapis.com/v1/{service}/skus"
AZURE_URL = "https://prices.azure.com/api/retail/prices"
PRICE_COLUMNS = (
    "system",
    "pricing",
    "usd_per_hour",
    "per",
    "chips_per_unit",
    "region",
    "source",
    "as_of",
    "note",
)


def _system(cat: Catalog, name: str) -> str | None:
    try:
        return cat.system(name).id
    except UnknownNameError:
        return None


def _day(stamp: str) -> str:
    return stamp[:10]


# ---- AWS: the EC2 offer file ---------------------------------------------------------------------


def from_aws(doc: Mapping[str, Any], cat: Catalog, name: str) -> list[Price]:
    """On-Demand Linux, shared-tenancy, no pre-installed software rows of catalog instances."""
    out: list[Price] = []
    terms = (doc.get("terms") or {}).get("OnDemand") or {}
    for sku, prod in (doc.get("products") or {}).items():
        a = prod.get("attributes") or {}
        if (a.get("operatingSystem"), a.get("tenancy"), a.get("preInstalledSw", "NA")) != (
            "Linux",
            "Shared",
            "NA",
        ):
            continue
        if a.get("capacitystatus", "Used") != "Used":
            continue
        sid = _system(cat, str(a.get("instanceType", "")))
        if sid is None:
            continue
        region = str(a.get("regionCode", a.get("location", "")))
        for term in (terms.get(sku) or {}).values():
            for dim in (term.get("priceDimensions") or {}).values():
                usd = float((dim.get("pricePerUnit") or {}).get("USD", 0.0))
                if dim.get("unit") != "Hrs" or not usd > 0:
                    continue
                src = f"{AWS_URL.format(region=region)} (export {name}, publicationDate {doc.get('publicationDate', '?')}; SKU {sku}, rate {dim.get('rateCode', '?')})"
                out.append(
                    Price(
                        sid,
                        Pricing.ON_DEMAND,
                        usd,
                        region,
                        src,
                        _day(str(term.get("effectiveDate") or doc.get("publicationDate", ""))),
                        "from catalog refresh (AWS price list)",
                    )
                )
    return out


# ---- Google Cloud: Cloud Billing Catalog SKUs ------------------------------------------------------

GCP_USAGE = {
    "OnDemand": Pricing.ON_DEMAND,
    "Preemptible": Pricing.SPOT,
    "Commit1Yr": Pricing.COMMIT_1Y,
    "Commit3Yr": Pricing.COMMIT_3Y,
}


def _gcp_keys() -> list[tuple[str, str]]:
    keys = read_toml(data_dir() / "price_keys.toml").get("gcp") or {}
    return sorted(((str(k).lower(), str(v)) for k, v in keys.items()), key=lambda kv: -len(kv[0]))


def from_gcp(doc: Mapping[str, Any], cat: Catalog, name: str) -> list[Price]:
    """Per chip-hour TPU / GPU SKUs whose description ``data/price_keys.toml`` maps to a system."""
    out: list[Price] = []
    keys = _gcp_keys()
    for sku in doc.get("skus") or []:
        desc = str(sku.get("description", "")).lower()
        sid = next((s for k, s in keys if desc.startswith(k)), None)
        kind = GCP_USAGE.get(str((sku.get("category") or {}).get("usageType", "")))
        if sid is None or kind is None or sid not in cat.systems:
            continue
        for info in sku.get("pricingInfo") or []:
            expr = info.get("pricingExpression") or {}
            rates = expr.get("tieredRates") or []
            if expr.get("usageUnit") != "h" or not rates:
                continue
            unit = rates[-1].get("unitPrice") or {}
            usd = float(unit.get("units", 0) or 0) + float(unit.get("nanos", 0) or 0) / 1e9
            if not usd > 0:
                continue
            service = "/".join(str(sku.get("name", "services/?/skus/?")).split("/")[:2])
            nodes = cat.systems[sid].chips_per_node
            for region in sku.get("serviceRegions") or [""]:
                src = f"{GCP_URL.format(service=service)} (export {name}; SKU {sku.get('skuId', '?')} '{sku.get('description', '')}')"
                out.append(
                    Price(
                        sid,
                        kind,
                        usd * nodes,
                        str(region),
                        src,
                        _day(str(info.get("effectiveTime", ""))),
                        "from catalog refresh (GCP SKU, per chip-hour)",
                    )
                )
    return out


# ---- Azure: retail prices -----------------------------------------------------------------------------


def from_azure(doc: Mapping[str, Any], cat: Catalog, name: str) -> list[Price]:
    """Linux pay-as-you-go, Spot and 1-/3-year reservation rows of catalog VM sizes."""
    out: list[Price] = []
    for it in doc.get("Items") or []:
        if it.get("currencyCode", "USD") != "USD" or "Windows" in str(it.get("productName", "")):
            continue
        sid = _system(cat, str(it.get("armSkuName", "")))
        if sid is None:
            continue
        usd = float(it.get("unitPrice") or it.get("retailPrice") or 0.0)
        kind, meter = None, str(it.get("meterName", ""))
        if it.get("type") == "Consumption" and "Low Priority" not in meter:
            kind = Pricing.SPOT if "Spot" in meter else Pricing.ON_DEMAND
        elif it.get("type") == "Reservation":
            years = {"1 Year": 1, "1 Years": 1, "3 Years": 3}.get(str(it.get("reservationTerm")))
            if years:  # a reservation's unit price is for the whole term
                kind, usd = (Pricing.COMMIT_1Y if years == 1 else Pricing.COMMIT_3Y), usd / (8760.0 * years)
        if (
            kind is None
            or not usd > 0
            or str(it.get("unitOfMeasure", "1 Hour")) not in ("1 Hour", "1 Year", "1 Years", "3 Years")
        ):
            continue
        src = f"{AZURE_URL} (export {name}; meterId {it.get('meterId', '?')}, {it.get('skuName', '')})"
        out.append(
            Price(
                sid,
                kind,
                usd,
                str(it.get("armRegionName", "")),
                src,
                _day(str(it.get("effectiveStartDate", ""))),
                "from catalog refresh (Azure retail prices)",
            )
        )
    return out


def refresh(path: Path, cat: Catalog) -> list[Price]:
    """Price rows from one export file (the format is recognised from its contents)."""
    try:
        doc = json.loads(Path(path).read_text())
    except OSError as e:
        raise DataError(f"cannot read the price export ({e.strerror})", "Check the path", str(path)) from e
    except json.JSONDecodeError as e:
        raise DataError(
            f"not JSON ({e.msg}, line {e.lineno})", "Give the cloud's JSON export", str(path)
        ) from e
    if not isinstance(doc, dict):
        raise DataError("not a price export", "Give AWS, GCP or Azure price JSON", str(path))
    name = Path(path).name
    if "products" in doc and "terms" in doc:
        rows = from_aws(doc, cat, name)
    elif "skus" in doc:
        rows = from_gcp(doc, cat, name)
    elif "Items" in doc:
        rows = from_azure(doc, cat, name)
    else:
        raise DataError(
            "not a known price export",
            "Give AWS's EC2 price-list JSON, a GCP Cloud Billing SKU export or Azure retail prices JSON",
            str(path),
        )
    return sorted(rows, key=lambda p: (p.system, p.pricing.value, p.region, p.as_of))


def price_rows_csv(prices: Iterable[Price], cat: Catalog, header: bool = True) -> str:
    """Rows in ``prices.csv``'s columns (per node), ready to append to it."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if header:
        w.writerow(PRICE_COLUMNS)
    for p in prices:
        n = cat.systems[p.system].chips_per_node
        w.writerow(
            [
                p.system,
                p.pricing.value,
                f"{p.usd_per_node_hour:.6g}",
                "node",
                n,
                p.region,
                p.source,
                p.as_of,
                p.note,
            ]
        )
    return buf.getvalue()


# ---- check ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One record that an analyst could not cite as it stands."""

    record: str  # chip:<id>, system:<id>, price:<system>/<kind>/<as_of>
    field: str
    problem: str  # no-url | year-only-date | disagrees-with-note
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"record": self.record, "field": self.field, "problem": self.problem, "detail": self.detail}


_FULL_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_PER_CHIP = re.compile(r"\$([0-9][0-9,]*\.?[0-9]*) per (?:GPU|chip)-hour")


def _provenance_findings(rec: str, source: str, as_of: str, fld: str) -> list[Finding]:
    out = []
    if "http" not in source:
        out.append(Finding(rec, fld, "no-url", source[:120]))
    if not _FULL_DATE.fullmatch(as_of.strip()):
        out.append(Finding(rec, fld, "year-only-date", as_of))
    return out


def check(cat: Catalog) -> list[Finding]:
    """Every record whose source has no URL, whose date is not a full date, or whose value
    disagrees with a per-chip price its note states."""
    out: list[Finding] = []
    for kind, records in (("chip", cat.chips.values()), ("system", cat.systems.values())):
        for r in records:
            rec = f"{kind}:{r.id}"
            out += _provenance_findings(rec, r.source, r.as_of, "source")
            for key, prov in r.provenance.items():
                out += _provenance_findings(rec, prov.source, prov.as_of, f"provenance.{key}")
    for p in cat.prices:
        rec = f"price:{p.system}/{p.pricing.value}/{p.as_of}"
        out += _provenance_findings(rec, p.source, p.as_of, "source")
        m = _PER_CHIP.search(p.note)
        if m:
            stated = float(m.group(1).replace(",", ""))
            per_chip = p.usd_per_chip_hour(cat.systems[p.system].chips_per_node)
            if abs(stated - per_chip) > 0.01 * stated:
                out.append(
                    Finding(
                        rec,
                        "usd_per_hour",
                        "disagrees-with-note",
                        f"note says ${stated:g} per chip-hour, row gives ${per_chip:.4g}",
                    )
                )
    return out

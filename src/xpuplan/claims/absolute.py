"""Claim methods that compute one figure rather than compare systems.

* ``facility``: ``chips × chip W × (1 + host) × (1 + network) × PUE`` at nameplate power, with the
  chip power from the catalog or, where no TDP is published, at the peak FLOP/s per watt of named
  chips; the break-even is the chip power at which the claimed figure is reached.
* ``on_device``: one request on one device (static batch of one): TTFT per prompt token, decode
  tokens/s.
* ``hybrid``: the share of a request-length mix a device serves within an end-to-end target, and
  how much of the rest a server meets.
* ``outside``: not a quantity the model computes; the reason is the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from xpuplan.claims.cases import (
    Case,
    Outcome,
    Threshold,
    assumed_efficiency,
    assumed_field,
    judge,
    need_dimension,
    open_test,
    parse_model,
    weight_formats,
)
from xpuplan.claims.spec import UNITS, CheckSpec, Reader
from xpuplan.hardware.catalog import Catalog
from xpuplan.hardware.pricing import published_tdp_w
from xpuplan.hardware.records import Chip, Interval, System
from xpuplan.perf.machine import Machine
from xpuplan.perf.params import PerfParams
from xpuplan.perf.serve import ServeConfig, compute_dtype, evaluate_serve
from xpuplan.workload.job import KV_FORMATS, ServeJob
from xpuplan.workload.model import Model

# ---- facility ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FacilityTest:
    chips: int
    system: System
    chip_w: tuple[float, float]
    chip_w_basis: str
    host: tuple[float, float]
    host_basis: str
    network: tuple[float, float]
    pue: float
    pue_basis: str
    chip_w_published: bool = True  # the chip has a published TDP (else that fact is missing)
    chip_w_stated: bool = False  # the chip power is stated or derived in the file (an assumption)
    host_stated: bool = False  # host overhead stated in the file (an assumption)


FACILITY_KEYS = (
    "chips",
    "system",
    "chip_w",
    "chip_w_like",
    "dtype",
    "host_overhead",
    "host_like",
    "network_overhead",
    "pue",
    "pue_source",
)


def parse_facility(r: Reader, d: Mapping[str, Any], spec: CheckSpec, cat: Catalog) -> FacilityTest:
    open_test(r, d, spec, FACILITY_KEYS, "power")
    system = cat.system(r.text(d, "system"))
    chip = cat.chips[system.chip]
    chip_w, chip_basis = _chip_w(r, d, chip, cat)
    host, host_basis = _host(r, d, system, cat)
    pue = r.opt_num(d, "pue", 1.0, 3.0)
    pue_basis = str(d.get("pue_source", "")) if pue else f"catalog default ({cat.energy.source})"
    return FacilityTest(
        int(r.num(d, "chips", None, 1, 1e9, integer=True)),
        system,
        chip_w,
        chip_basis,
        host,
        host_basis,
        r.span(d, "network_overhead", 0.0) or (0.0, 0.0),
        pue or cat.energy.pue,
        pue_basis,
        published_tdp_w(chip) is not None,
        "chip_w" in d or "chip_w_like" in d,
        "host_overhead" in d,
    )


def _chip_w(r: Reader, d: Mapping[str, Any], chip: Chip, cat: Catalog) -> tuple[tuple[float, float], str]:
    """Chip power: stated, or at the peak FLOP/s per watt of named chips, or the catalog TDP."""
    stated = r.span(d, "chip_w")
    if stated:
        return stated, "stated in the claim file (assumption)"
    if "chip_w_like" in d:
        dt = r.text(d, "dtype", "bf16")
        mine = chip.peak(dt)
        if mine is None:
            raise r.fail("dtype", f"{chip.id} has no {dt} peak", "Pick a dtype the chip lists")
        like = [_flops_per_w(r, cat.chip(x), dt) for x in r.texts(d, "chip_w_like")]
        ws = [mine / fw for _, fw in like]
        basis = ", ".join(f"{cid}: {fw / 1e12:.2f} TFLOP/s per W → {mine / fw:,.0f} W" for cid, fw in like)
        return (min(ws), max(ws)), f"{chip.id} at the {dt} peak FLOP/s per watt of {basis}"
    tdp = published_tdp_w(chip)
    if tdp is None and chip.power is not None and chip.power.range_w is not None:
        lo, hi = chip.power.range_w
        return (
            (lo, hi),
            f"{chip.id} has no published TDP: the catalog's estimate {lo:,.0f}-{hi:,.0f} W ({chip.power.basis})",
        )
    if tdp is None:
        raise r.fail(
            "chip_w", f"{chip.id} has no published TDP on record", "Give chip_w = [low, high] or chip_w_like"
        )
    return (tdp, tdp), f"{chip.id} catalog TDP"


def _flops_per_w(r: Reader, chip: Chip, dt: str) -> tuple[str, float]:
    peak, tdp = chip.peak(dt), published_tdp_w(chip)
    if peak is None or tdp is None:
        raise r.fail(
            "chip_w_like", f"{chip.id} lacks a {dt} peak or a published TDP", "Name chips that have both"
        )
    return chip.id, peak / tdp


def _host(r: Reader, d: Mapping[str, Any], system: System, cat: Catalog) -> tuple[tuple[float, float], str]:
    """Host power as a fraction of chip power: stated, from named systems, or from the record."""
    stated = r.span(d, "host_overhead")
    if stated:
        return stated, "stated in the claim file (assumption)"
    named = [cat.system(x) for x in r.texts(d, "host_like")] if "host_like" in d else [system]
    fracs = []
    for s in named:
        tdp = published_tdp_w(cat.chips[s.chip])
        if s.host_w_per_node is None or tdp is None:
            if "host_like" in d:
                raise r.fail(
                    "host_like", f"{s.id} has no host power or chip TDP", "Name systems that have both"
                )
            return (0.0, 0.0), f"{s.id} has no host power on record: chips only"
        fracs.append((s.id, s.host_w_per_node / (s.chips_per_node * tdp)))
    basis = ", ".join(f"{sid}: {f:.2f}" for sid, f in fracs)
    return (min(f for _, f in fracs), max(f for _, f in fracs)), f"host W / chip W of {basis}"


def _span(lo_hi: tuple[float, float], spec: str) -> str:
    lo, hi = lo_hi
    return format(lo, spec) if lo == hi else f"{format(lo, spec)}–{format(hi, spec)}"


def run_facility(
    t: FacilityTest, spec: CheckSpec, cat: Catalog, params: PerfParams, on: str | None = None
) -> Outcome:
    unit_si = UNITS[spec.unit][1]
    # without a published TDP the figure stands on an assumed chip power: that fact is missing
    missing = () if t.chip_w_published else (f"{t.system.chip} power (no published TDP)",)
    cases = []
    for i, name in enumerate(("low assumptions", "high assumptions")):
        w, h, net = t.chip_w[i], t.host[i], t.network[i]
        per_chip = (1.0 + h) * (1.0 + net) * t.pue  # facility W per chip W
        total = t.chips * w * per_chip
        inputs = {"chips": t.chips, "chip_w": w, "host_overhead": h, "network_overhead": net, "pue": t.pue}
        threshold = None
        if spec.claimed is not None:
            need = spec.claimed.target * unit_si / (t.chips * per_chip)
            current_is = "now" if t.chip_w_published and not t.chip_w_stated else "assumed"
            threshold = Threshold(f"{t.system.chip} power", "≥", need, "W/chip", w, current_is)
        case = Case(name, total / unit_si, None, threshold, "", inputs, missing)
        cases.append(judge(spec.claimed, case))
    assumed = (
        *(
            [f"{t.system.chip} power {_span(t.chip_w, ',.0f')} W"]
            if t.chip_w_stated or not t.chip_w_published
            else []
        ),
        *([f"host overhead {_span(t.host, '.2f')}"] if t.host_stated else []),
        *([f"network overhead {_span(t.network, '.2f')}"] if t.network[1] > 0 else []),
    )
    return Outcome(
        tuple(cases),
        (
            f"{t.chips:,} × {t.system.chip} in {t.system.id}; nameplate power (TDP), not average draw",
            f"chip power {_span(t.chip_w, ',.0f')} W: {t.chip_w_basis}",
            f"host overhead {_span(t.host, '.2f')} × chip power: {t.host_basis}",
            f"network overhead {_span(t.network, '.2f')} × IT power (assumption)",
            f"PUE {t.pue:.2f}: {t.pue_basis}",
        ),
        assumed,
    )


# ---- on device, hybrid ------------------------------------------------------------------------------


class DeviceQuantity(str, Enum):
    TTFT_PER_PROMPT_TOKEN = "ttft_per_prompt_token"  # time
    DECODE_TOKENS_PER_S = "decode_tokens_per_s"  # rate


@dataclass(frozen=True)
class Device:
    """A model served on one device, one request at a time."""

    system: System
    model: Model
    weights: str
    weight_bits: float | None
    kv: str

    def run(
        self, cat: Catalog, params: PerfParams, prompt: int, output: int
    ) -> tuple[float, float, float] | None:
        """(TTFT, TPOT, end-to-end) in seconds, or None when the model does not fit."""
        job = ServeJob(self.model, prompt, output, self.weights, self.kv, self.weight_bits)
        m = Machine(cat.chips[self.system.chip], self.system, 1)
        r = evaluate_serve(job, ServeConfig.one(), m, params, "static")
        if int(r.reason[0]):
            return None
        return float(r.ttft[0]), float(r.tpot[0]), float(r.e2e[0])

    def interval(self, cat: Catalog) -> Interval | None:
        """The 80% interval of the device's serving predictions: its chip's cross-validated
        inference class (``no-own-case/infer`` where the chip has no case of its own)."""
        return cat.chips[self.system.chip].intervals.get("infer")

    def describe(self) -> str:
        bits = f"{self.weight_bits:g}-bit" if self.weight_bits else self.weights
        return f"{self.model.id} ({bits} weights) on {self.system.id}"

    def assumed(self, cat: Catalog, compute: bool, memory: bool) -> tuple[str, ...]:
        """The device's catalog inputs a one-request figure rests on that are assumptions: the
        peak of the format the matmuls run in (prefill), the memory bandwidth (decode), the
        efficiencies (both)."""
        chip = cat.chips[self.system.chip]
        job = ServeJob(self.model, 1, 1, self.weights, self.kv, self.weight_bits)
        dt = compute_dtype(job, Machine(chip, self.system, 1))
        found = (
            assumed_field(chip, f"peak_tflops.{dt}", f"{dt} peak") if compute else None,
            assumed_field(chip, "memory.bandwidth_tbyte_s", "memory bandwidth") if memory else None,
            assumed_efficiency(chip),
        )
        return tuple(x for x in found if x is not None)


DEVICE_KEYS = ("system", "model", "weights", "weight_bits", "kv")
"""The keys :func:`parse_device` reads (after its ``prefix``)."""


def parse_device(r: Reader, d: Mapping[str, Any], spec: CheckSpec, cat: Catalog, prefix: str = "") -> Device:
    return Device(
        cat.system(r.text(d, f"{prefix}system")),
        parse_model(r, d, spec, f"{prefix}model"),
        weight_formats(r, d, f"{prefix}weights")[0],
        r.opt_num(d, f"{prefix}weight_bits", 1.0, 32.0),
        r.choice(d, f"{prefix}kv", KV_FORMATS, "bf16"),
    )


@dataclass(frozen=True)
class OnDeviceTest:
    device: Device
    quantity: DeviceQuantity
    input_lens: tuple[int, ...]
    output_len: int


def parse_on_device(r: Reader, d: Mapping[str, Any], spec: CheckSpec, cat: Catalog) -> OnDeviceTest:
    r.only(d, (*DEVICE_KEYS, "quantity", "input_len", "output_len"))
    q = DeviceQuantity(r.choice(d, "quantity", [x.value for x in DeviceQuantity]))
    need_dimension(r, spec, "time" if q is DeviceQuantity.TTFT_PER_PROMPT_TOKEN else "rate")
    lens = tuple(int(x) for x in r.nums(d, "input_len", [1000], integer=True))
    return OnDeviceTest(
        parse_device(r, d, spec, cat), q, lens, int(r.num(d, "output_len", 100, 1, 1e7, integer=True))
    )


def run_on_device(
    t: OnDeviceTest, spec: CheckSpec, cat: Catalog, params: PerfParams, on: str | None = None
) -> Outcome:
    cases = []
    prefill = t.quantity is DeviceQuantity.TTFT_PER_PROMPT_TOKEN
    iv = t.device.interval(cat)
    for n in t.input_lens:
        res = t.device.run(cat, params, n, t.output_len)
        label = f"{n:,}-token prompt"
        if res is None:
            cases.append(Case(label, None, None, note="the model does not fit on the device"))
            continue
        ttft, tpot, _ = res
        value = (ttft / n if prefill else 1.0 / tpot) / UNITS[spec.unit][1]
        bounds = None if iv is None else (iv.time(value) if prefill else iv.rate(value))
        inputs = {"ttft_s": ttft, "tpot_s": tpot}
        cases.append(judge(spec.claimed, Case(label, value, None, None, "", inputs, interval=bounds)))
    assumed = t.device.assumed(cat, compute=prefill, memory=not prefill)
    return Outcome(tuple(cases), (f"{t.device.describe()}, one request at a time",), assumed)


@dataclass(frozen=True)
class HybridTest:
    device: Device
    server: Device
    target_s: float
    prompts: tuple[tuple[int, float], ...]  # (tokens, share of requests)
    outputs: tuple[tuple[int, float], ...]


def _mix(r: Reader, d: Mapping[str, Any], key: str) -> tuple[tuple[int, float], ...]:
    v = d.get(key)
    ok = isinstance(v, list) and v and all(isinstance(x, list) and len(x) == 2 for x in v)
    if not ok:
        raise r.fail(
            key, f"'{key}' must be a list of [tokens, share] pairs", f"e.g. {key} = [[100, 0.5], [1000, 0.5]]"
        )
    assert isinstance(v, list)
    mix = tuple((int(r.check_num(key, n, 1, 1e7, True)), r.check_num(key, w, 0, 1, False)) for n, w in v)
    if abs(sum(w for _, w in mix) - 1.0) > 1e-6:
        raise r.fail(
            key, f"the shares in '{key}' add up to {sum(w for _, w in mix):g}, not 1", "Fix the shares"
        )
    return mix


HYBRID_KEYS = (
    *DEVICE_KEYS,
    *(f"server_{k}" for k in DEVICE_KEYS),
    "e2e_target_s",
    "prompt_tokens",
    "output_tokens",
)


def parse_hybrid(r: Reader, d: Mapping[str, Any], spec: CheckSpec, cat: Catalog) -> HybridTest:
    open_test(r, d, spec, HYBRID_KEYS, "fraction")
    return HybridTest(
        parse_device(r, d, spec, cat),
        parse_device(r, d, spec, cat, "server_"),
        r.num(d, "e2e_target_s", None, 1e-3, 1e5),
        _mix(r, d, "prompt_tokens"),
        _mix(r, d, "output_tokens"),
    )


def run_hybrid(
    t: HybridTest, spec: CheckSpec, cat: Catalog, params: PerfParams, on: str | None = None
) -> Outcome:
    on_device = on_server = 0.0
    buckets = []
    iv = t.device.interval(cat)
    bound_share = [0.0, 0.0]  # the device's share with its times at the interval's slow, fast end
    for n_in, w_in in t.prompts:
        for n_out, w_out in t.outputs:
            dev, srv = t.device.run(cat, params, n_in, n_out), t.server.run(cat, params, n_in, n_out)
            dev_ok = dev is not None and dev[2] <= t.target_s
            srv_ok = not dev_ok and srv is not None and srv[2] <= t.target_s
            on_device += w_in * w_out * dev_ok
            on_server += w_in * w_out * srv_ok
            if dev is not None and iv is not None:
                fast, slow = iv.time(dev[2])
                bound_share[0] += w_in * w_out * (slow <= t.target_s)
                bound_share[1] += w_in * w_out * (fast <= t.target_s)
            e2e = {
                "device_e2e_s": None if dev is None else dev[2],
                "server_e2e_s": None if srv is None else srv[2],
            }
            buckets.append({"prompt": n_in, "output": n_out, "share": w_in * w_out, **e2e})
    rest = 1.0 - on_device
    note = (
        f"the other {rest:.0%} go to {t.server.describe()}: {on_server:.0%} of all requests finish within "
        f"{t.target_s:g} s there, {rest - on_server:.0%} do not"
    )
    label = f"requests {t.device.system.id} serves within {t.target_s:g} s end to end"
    inputs = {"buckets": buckets, "server_share_within_target": on_server}
    unit = UNITS[spec.unit][1]
    share_iv = None if iv is None else (bound_share[0] / unit, bound_share[1] / unit)
    case = judge(spec.claimed, Case(label, on_device / unit, None, None, note, inputs, interval=share_iv))
    mix = "; ".join(
        f"{name} " + ", ".join(f"{n:,}: {w:.0%}" for n, w in m)
        for name, m in (("prompt", t.prompts), ("output", t.outputs))
    )
    assumed = (
        "the request mix",
        *t.device.assumed(cat, True, True),
        *t.server.assumed(cat, True, True),
    )
    return Outcome(
        (case,), (f"request mix (tokens: share) {mix}; prompt and output lengths independent",), assumed
    )


# ---- outside -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutsideTest:
    reason: str
    missing: str | None  # the fact the claim needs that nobody publishes (None: it is published)


def parse_outside(r: Reader, d: Mapping[str, Any], spec: CheckSpec, cat: Catalog) -> OutsideTest:
    r.only(d, ("reason", "missing"))
    return OutsideTest(r.text(d, "reason"), r.text(d, "missing") if "missing" in d else None)


def run_outside(
    t: OutsideTest, spec: CheckSpec, cat: Catalog, params: PerfParams, on: str | None = None
) -> Outcome:
    return Outcome((), (t.reason,), missing=() if t.missing is None else (t.missing,))

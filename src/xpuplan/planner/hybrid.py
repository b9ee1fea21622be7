"""Hybrid jobs: which requests run on the device, which on private servers, which in the cloud.

Two steps around the planner's ranking (:func:`xpuplan.planner.plan.plan`):

1. :func:`split_hybrid` — for every request class, device group and length bin: can the device
   run it? The on-device model at its real bits per weight plus its LoRA adapters and KV cache must
   fit in the memory one app may hold (``data/devices``, not the phone's whole DRAM); the request
   (one sequence, static batch of one, :func:`xpuplan.perf.serve.evaluate_serve`) must finish
   within the class's end-to-end target on the group's path (Neural Engine or GPU), at burst speed
   for the first ``burst_s`` seconds and at ``sustained_fraction`` of it after (the device heats
   up); and the day's on-device energy must stay within the battery budget (greedy: the most
   energy-hungry bins that may leave the device go to servers first). The device costs the
   operator nothing, so whatever can run there does. What cannot becomes a serving job for the
   pools the class's privacy rule allows (``private``: Apple-silicon servers only), sized for the
   peak rate (mean × ``peak_to_mean``) with the end-to-end target split into TTFT ≤ 20% and
   TPOT ≤ 80% / output tokens.
2. :func:`summarise_hybrid` — from the ranked serving jobs: the pool each class runs on, cost per
   million requests, device energy per request (mWh, share of a battery per day), latency per class
   and the break-evens that would move a class between tiers.

The serving jobs join the fleet plan with every other job (same supply, power and budget rows).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from xpuplan.datafiles import FieldsDict
from xpuplan.hardware.catalog import Catalog
from xpuplan.hardware.devices import DeviceProfile
from xpuplan.hardware.records import Chip, Dtype, Price, Pricing
from xpuplan.perf import serve as sv
from xpuplan.perf.machine import Machine
from xpuplan.perf.params import PerfParams
from xpuplan.perf.train import lora_fraction
from xpuplan.planner.constraints import Why, WhyCode
from xpuplan.planner.rank import Option
from xpuplan.planner.scenario import DeviceGroup, HybridSpec, RequestClass, Scenario, ServeSpec
from xpuplan.workload.job import ServeJob
from xpuplan.workload.library import get_model

SECONDS_PER_DAY = 86400.0
TTFT_SHARE = 0.2  # of a class's end-to-end target, for the servers' TTFT target (the rest: decode)
ADAPTER_BYTES = 2.0  # LoRA adapter values in 16 bits (Apple, AFM 2024: "16-bit" adapters)


@dataclass(frozen=True)
class BinVerdict:
    """One device group's requests of one length bin of a class: where they run and why."""

    group: str
    input_len: int
    output_len: int
    requests_per_day: float
    where: str  # device | server | unserved
    why: Why | None = None  # why not on the device
    latency_s: float | None = None  # on the device (burst then sustained)
    energy_j: float | None = None  # device energy per request
    speedup_needed: float | None = None  # device speed-up that would meet the target
    memory_needed_gib: float | None = None  # where the model does not fit in the app's memory

    def to_dict(self) -> dict[str, Any]:
        # "reason" is worded by report.wording (plan_dict); the code and numbers are under "why"
        d = {("reason" if k == "why" else k): (None if k == "why" else x) for k, x in self.__dict__.items()}
        d["why"] = self.why.to_dict() if self.why else None
        return d


@dataclass(frozen=True)
class HybridSplit:
    """Step 1's answer: per class the bins' verdicts and, for the rest, a serving job."""

    spec: HybridSpec
    verdicts: dict[str, list[BinVerdict]]
    server_jobs: dict[str, ServeSpec]  # class name -> serving job for the server-bound requests
    no_pool: dict[str, Why] = field(default_factory=dict)  # class -> why nothing can serve it


@dataclass(frozen=True)
class ClassPlan(FieldsDict):
    name: str
    privacy: str
    requests_per_day: float
    device_share: float
    server_share: float
    unserved_share: float
    device_latency_s: float | None  # mean over on-device requests
    device_latency_max_s: float | None
    device_energy_mwh: float | None  # mean per on-device request
    server_job: str | None
    server_system: str | None
    server_tier: str | None
    server_chips: int | None
    server_layout: str | None
    server_latency_s: float | None
    server_peak_rps: float | None
    server_cost_usd: float | None  # over the job's hours
    server_energy_j_per_request: float | None
    usd_per_million_requests: float | None  # server cost over all the class's requests
    break_even: dict[str, Any]
    reasons: dict[Why, float]  # why requests are not on the device: reason -> requests/day
    verdicts: list[BinVerdict]

    def to_dict(self) -> dict[str, Any]:
        # "reasons" and each verdict's "reason": worded by report.wording (plan_dict) from the
        # codes and numbers under "why_off_device" and each verdict's "why"
        d = super().to_dict()
        d["reasons"] = {}
        d["why_off_device"] = [{**w.to_dict(), "requests_per_day": n} for w, n in self.reasons.items()]
        d["verdicts"] = [v.to_dict() for v in self.verdicts]
        return d


@dataclass(frozen=True)
class DeviceAssumption(FieldsDict):
    """A device figure the plan rests on, with its provenance: the app's memory budget, the
    battery, or one compute path's peaks, power and sustained speed (``path`` names it).
    ``report.wording`` says what it is in words."""

    device: str
    kind: str  # app_memory | battery | path
    path: str | None  # the compute path (kind "path"), e.g. neural_engine
    source: str
    as_of: str
    note: str


@dataclass(frozen=True)
class HybridPlan(FieldsDict):
    job: str
    classes: list[ClassPlan]
    devices: list[dict[str, Any]]  # per group: count, requests/day, battery share per day, energy
    requests_per_day: float
    server_cost_usd: float | None
    usd_per_million_requests: float | None
    device_energy_mwh_per_request: float | None
    pools: list[dict[str, Any]]
    hours: float
    peak_to_mean: float
    assumptions: list[DeviceAssumption]
    server_specs: tuple[ServeSpec, ...] = ()  # the serving jobs the pools run (in the plan's jobs)

    def to_dict(self) -> dict[str, Any]:
        # each assumption's "what": worded by report.wording (plan_dict, the HTML report)
        d = super().to_dict()
        d["assumptions"] = [a.to_dict() for a in self.assumptions]
        d["classes"] = [c.to_dict() for c in self.classes]
        d["server_specs"] = [dict(s.__dict__) for s in self.server_specs]
        return d


# ---- step 0: owned hardware is priced as the scenario states ------------------------------------


def hybrid_catalog(sc: Scenario, cat: Catalog) -> Catalog:
    """The catalog plus the prices hybrid pools state for owned servers (amortised), as 3-year
    rows, so the ranking and the fleet price them like any other system."""
    rows = [
        Price(
            p.system,
            Pricing.COMMIT_3Y,
            p.usd_per_node_hour,
            "owned",
            p.price_source,
            p.price_as_of or "2023-06-05",
            "stated in the scenario: owned hardware, amortised",
        )
        for spec in sc.jobs
        if isinstance(spec, HybridSpec)
        for p in spec.pools
        if p.usd_per_node_hour is not None
    ]
    return cat.with_prices(rows) if rows else cat


# ---- step 1: the device ---------------------------------------------------------------------------


def _device_machine(cat: Catalog, g: DeviceGroup, prof: DeviceProfile, reserved: float) -> Machine | Why:
    if g.path not in prof.paths:
        return Why(WhyCode.NO_DEVICE_PATH, subject=g.system, detail=g.path)
    system = cat.systems[g.system or ""]
    path = prof.paths[g.path]
    peaks = {Dtype.FP16: path.peaks["fp16"]} if "fp16" in path.peaks else {}
    if "int8" in path.peaks:
        peaks[Dtype.INT8] = path.peaks["int8"]
    chip: Chip = replace(cat.chips[system.chip], peak_flops=peaks, mem_bytes=prof.app_memory_bytes - reserved)
    return Machine(chip, system, 1)


def _on_device(
    c: RequestClass, g: DeviceGroup, inp: int, out: int, cat: Catalog, prof: DeviceProfile, params: PerfParams
) -> BinVerdict:
    model = get_model(c.model or c.server_model)
    adapter = lora_fraction(model, c.adapter_rank) * model.params() * ADAPTER_BYTES if c.adapter_rank else 0.0
    m = _device_machine(cat, g, prof, adapter)
    if isinstance(m, Why):
        return BinVerdict(g.name, inp, out, 0.0, "server", m)
    job = ServeJob(model, inp, out, "int4", "bf16", c.weight_bits)
    r = sv.evaluate_serve(job, sv.ServeConfig.one(), m, params, "static")
    path = prof.paths[g.path]
    if int(r.reason[0]) != sv.OK:
        need = (float(r.weights_bytes[0]) + float(r.kv_bytes[0]) + adapter) / 2**30
        return BinVerdict(g.name, inp, out, 0.0, "server", Why(WhyCode.NO_APP_MEMORY), None, None, None, need)
    t = path.seconds(float(r.e2e[0]))
    e = path.power_w * t
    target = c.latency_ms / 1e3
    if t > target:
        return BinVerdict(g.name, inp, out, 0.0, "server", Why(WhyCode.DEVICE_LATENCY), t, e, t / target)
    return BinVerdict(g.name, inp, out, 0.0, "device", None, t, e)


def _budget(
    vs: list[tuple[RequestClass, BinVerdict]], g: DeviceGroup, prof: DeviceProfile | None, share: float
) -> list[tuple[RequestClass, BinVerdict]]:
    """Move the most energy-hungry movable bins off the device until its day fits the battery budget."""
    if prof is None or prof.battery_wh is None or g.count <= 0:
        return vs
    budget = share * prof.battery_wh * 3600.0

    def used(items: list[tuple[RequestClass, BinVerdict]]) -> float:
        return sum(
            v.energy_j * v.requests_per_day / g.count for _, v in items if v.where == "device" and v.energy_j
        )

    out = list(vs)
    order = sorted(
        (i for i, (c, v) in enumerate(out) if v.where == "device" and c.privacy != "device"),
        key=lambda i: -(out[i][1].energy_j or 0.0),
    )
    for i in order:
        if used(out) <= budget:
            break
        c, v = out[i]
        out[i] = (c, replace(v, where="server", why=Why(WhyCode.BATTERY)))
    return out


def _server_job(
    spec: HybridSpec, c: RequestClass, vs: list[BinVerdict], pools: tuple[str, ...]
) -> ServeSpec | None:
    per_day = sum(v.requests_per_day for v in vs if v.where == "server")
    if per_day <= 0 or not pools:
        return None
    inp = sum(v.input_len * v.requests_per_day for v in vs if v.where == "server") / per_day
    out = sum(v.output_len * v.requests_per_day for v in vs if v.where == "server") / per_day
    lat = c.latency_ms
    return ServeSpec(
        f"{spec.name}: {c.name}",
        c.server_model,
        per_day / SECONDS_PER_DAY * spec.peak_to_mean,
        max(1, round(inp)),
        max(1, round(out)),
        TTFT_SHARE * lat,
        (1.0 - TTFT_SHARE) * lat / max(1.0, out - 1.0),
        c.server_weights,
        spec.hours,
        candidates=pools,
    )


def split_hybrid(
    spec: HybridSpec, cat: Catalog, params: PerfParams, profiles: Mapping[str, DeviceProfile]
) -> HybridSplit:
    """Step 1: every bin of every class on every device group — device, server or unserved."""
    dev_params = replace(params, reserved_gib=0.0, reserved_fraction=0.0)  # the app budget is net
    per_group: dict[str, list[tuple[RequestClass, BinVerdict]]] = {}
    for g in spec.devices:
        prof = profiles.get(g.system or "")
        items = []
        for c in spec.classes:
            for inp, wi in c.input_len:
                for out, wo in c.output_len:
                    n = g.count * g.requests_per_day * c.share * wi * wo
                    if c.model is None or g.system is None or prof is None:
                        why = (
                            Why(WhyCode.NEEDS_SERVER_MODEL)
                            if c.model is None
                            else Why(WhyCode.NO_DEVICE)
                            if g.system is None
                            else Why(WhyCode.NO_DEVICE_PROFILE, subject=g.system)
                        )
                        v = BinVerdict(g.name, inp, out, n, "server", why)
                    else:
                        v = replace(_on_device(c, g, inp, out, cat, prof, dev_params), requests_per_day=n)
                    items.append((c, v))
        per_group[g.name] = _budget(items, g, prof, spec.max_battery_share)
    verdicts: dict[str, list[BinVerdict]] = {c.name: [] for c in spec.classes}
    for items in per_group.values():
        for c, v in items:
            if v.where == "server" and c.privacy == "device":
                v = replace(v, where="unserved")
            verdicts[c.name].append(v)
    jobs: dict[str, ServeSpec] = {}
    no_pool: dict[str, Why] = {}
    for c in spec.classes:
        allowed = tuple(p.system for p in spec.pools if c.privacy == "any" or p.tier == "private")
        if c.privacy == "device":
            continue
        job = _server_job(spec, c, verdicts[c.name], allowed)
        if job is not None:
            jobs[c.name] = job
        elif not allowed and any(v.where == "server" for v in verdicts[c.name]):
            no_pool[c.name] = Why(
                WhyCode.NO_SERVER_POOL, detail="private" if c.privacy == "private" else None
            )
            verdicts[c.name] = [
                replace(v, where="unserved") if v.where == "server" else v for v in verdicts[c.name]
            ]
    return HybridSplit(spec, verdicts, jobs, no_pool)


# ---- step 2: the summary ---------------------------------------------------------------------------


def _mean(xs: Sequence[tuple[float, float]]) -> float | None:
    w = sum(n for _, n in xs)
    return sum(x * n for x, n in xs) / w if w > 0 else None


def _class_plan(
    split: HybridSplit, c: RequestClass, ranked: Mapping[str, list[Option]], tiers: Mapping[str, str]
) -> ClassPlan:
    spec, vs = split.spec, split.verdicts[c.name]
    total = sum(v.requests_per_day for v in vs) or 1.0
    dev = [v for v in vs if v.where == "device"]
    share = {
        w: sum(v.requests_per_day for v in vs if v.where == w) / total
        for w in ("device", "server", "unserved")
    }
    reasons: dict[Why, float] = {}
    for v in vs:
        if v.where != "device" and v.why:
            reasons[v.why] = reasons.get(v.why, 0.0) + v.requests_per_day
    if c.name in split.no_pool:
        reasons[split.no_pool[c.name]] = share["unserved"] * total
    job = split.server_jobs.get(c.name)
    opts = ranked.get(job.name, []) if job else []
    best = opts[0] if opts and opts[0].feasible else None
    runner = next((o for o in opts[1:] if o.feasible and o.cost_usd), None)
    requests_in_hours = total * spec.hours / 24.0
    mwh = _mean([((v.energy_j or 0.0) / 3.6, v.requests_per_day) for v in dev])
    be: dict[str, Any] = {}
    slow = [v.speedup_needed for v in vs if v.speedup_needed]
    if slow:  # the device speed-up that would bring the first / all late requests on the device
        be["device_speedup_first"], be["device_speedup_all"] = min(slow), max(slow)
    mem = [v.memory_needed_gib for v in vs if v.memory_needed_gib]
    if mem:
        be["app_memory_needed_gib"] = min(mem)
    if dev:
        be["latency_target_moves_off_device_ms"] = max(v.latency_s or 0.0 for v in dev) * 1e3
    if best and runner and best.cost_usd and runner.cost_usd:
        be["runner_up_system"] = runner.system
        be["runner_up_tier"] = tiers.get(runner.system)
        be["runner_up_price_factor"] = (
            best.cost_usd / runner.cost_usd
        )  # runner-up wins below this × its price
    server_req = share["server"] * requests_in_hours
    j_per_req = best.energy_j / server_req if best and best.energy_j and server_req else None
    if best and best.cost_usd and server_req and mwh:
        # the price of device energy at which a server request and a device request cost the same
        be["server_usd_per_device_kwh"] = (best.cost_usd / server_req) / (mwh / 1e6)
    return ClassPlan(
        c.name,
        c.privacy,
        total,
        share["device"],
        share["server"],
        share["unserved"],
        _mean([(v.latency_s or 0.0, v.requests_per_day) for v in dev]),
        max((v.latency_s or 0.0 for v in dev), default=None),
        mwh,
        job.name if job else None,
        best.system if best else None,
        tiers.get(best.system) if best else None,
        best.chips if best else None,
        best.layout if best else None,
        best.time_s if best else None,
        job.rate if job else None,
        best.cost_usd if best else None,
        j_per_req,
        None if best is None or best.cost_usd is None else best.cost_usd / requests_in_hours * 1e6,
        be,
        reasons,
        vs,
    )


def _groups(split: HybridSplit, profiles: Mapping[str, DeviceProfile]) -> list[dict[str, Any]]:
    out = []
    for g in split.spec.devices:
        vs = [v for c in split.spec.classes for v in split.verdicts[c.name] if v.group == g.name]
        j_day = sum((v.energy_j or 0.0) * v.requests_per_day for v in vs if v.where == "device") / max(
            g.count, 1.0
        )
        prof = profiles.get(g.system or "")
        bat = prof.battery_wh if prof else None
        n_dev = sum(v.requests_per_day for v in vs if v.where == "device")
        out.append(
            {
                "name": g.name,
                "system": g.system,
                "path": g.path,
                "count": g.count,
                "requests_per_day": g.count * g.requests_per_day,
                "on_device_share": n_dev / max(sum(v.requests_per_day for v in vs), 1e-30),
                "device_wh_per_day": j_day / 3600.0,
                "battery_wh": bat,
                "battery_share_per_day": None if not bat else j_day / 3600.0 / bat,
                "power_estimated": bool(
                    prof and prof.paths.get(g.path) and prof.paths[g.path].power_estimated
                ),
            }
        )
    return out


def _assumptions(split: HybridSplit, profiles: Mapping[str, DeviceProfile]) -> list[DeviceAssumption]:
    seen: list[DeviceAssumption] = []
    for g in split.spec.devices:
        prof = profiles.get(g.system or "")
        if prof is None:
            continue
        p = prof.paths.get(g.path)
        items = [("app_memory", prof.app_memory)] + ([("battery", prof.battery)] if prof.battery else [])
        if p:
            items.append(("path", p.provenance))
        for kind, prov in items:
            path = g.path if kind == "path" else None
            seen.append(DeviceAssumption(prof.system, kind, path, prov.source, prov.as_of, prov.note))
    return seen


def summarise_hybrid(
    split: HybridSplit, ranked: Mapping[str, list[Option]], profiles: Mapping[str, DeviceProfile]
) -> HybridPlan:
    """Step 2: per class where it runs, its cost and energy, and what would move it."""
    spec = split.spec
    tiers = {p.system: p.tier for p in spec.pools}
    classes = [_class_plan(split, c, ranked, tiers) for c in spec.classes]
    per_day = sum(c.requests_per_day for c in classes)
    costs = [c.server_cost_usd for c in classes if c.server_job]
    cost = None if any(x is None for x in costs) else sum(x or 0.0 for x in costs)
    dev = [
        (c.device_energy_mwh or 0.0, c.requests_per_day * c.device_share)
        for c in classes
        if c.device_energy_mwh
    ]
    pools = [
        {
            "class": c.name,
            "system": c.server_system,
            "tier": c.server_tier,
            "chips": c.server_chips,
            "layout": c.server_layout,
            "cost_usd": c.server_cost_usd,
        }
        for c in classes
        if c.server_system
    ]
    return HybridPlan(
        spec.name,
        classes,
        _groups(split, profiles),
        per_day,
        cost,
        None if cost is None or per_day <= 0 else cost / (per_day * spec.hours / 24.0) * 1e6,
        _mean(dev),
        pools,
        spec.hours,
        spec.peak_to_mean,
        _assumptions(split, profiles),
        tuple(split.server_jobs.values()),
    )

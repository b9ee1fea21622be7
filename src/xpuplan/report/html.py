"""The HTML report: one self-contained file (Plotly's JavaScript inlined, so it opens offline).

``render_html(data)`` renders the dict built by :func:`xpuplan.api.report_data.report_data`;
it computes nothing. Every figure carries a caption stating its assumptions: prices (kind and
dates), PUE, precision, and what was searched.
"""

from __future__ import annotations

import html
import math
from typing import Any

from xpuplan.report import fmt, wording
from xpuplan.report.plan_view import objective_value
from xpuplan.units import SECONDS_PER_DAY

TIME_LABELS = {
    "compute": "compute",
    "recompute": "recompute",
    "tp_comm": "TP comm",
    "cp_comm": "CP comm",
    "ep_comm": "EP all-to-all",
    "host": "host-bound (MoE sync)",
    "offload": "activation offload (host link)",
    "pp_comm": "PP p2p",
    "dp_comm": "DP / FSDP comm",
    "bubble": "pipeline bubble",
    "optimizer": "optimizer",
}
MEM_LABELS = {
    "weights": "weights",
    "grads": "gradients",
    "optimizer": "optimizer state",
    "activations": "activations",
    "reserved": "reserved / fragmentation",
}
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")
BAND_COLOURS = ((0.25, "rgba(255,165,0,0.12)"), (0.15, "rgba(46,160,67,0.16)"))

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:1.6em;margin:0.2em 0}
h2{margin-top:2em;border-bottom:2px solid #d8dce3;padding-bottom:4px}
h3{margin-top:1.6em}
.meta{color:#5b6475;font-size:0.92em}
section.card{background:#fff;border:1px solid #e2e5ea;border-radius:8px;padding:14px 18px;margin:14px 0}
table{border-collapse:collapse;font-size:0.86em;width:100%}
th,td{padding:4px 8px;border-bottom:1px solid #eceef2;text-align:right;vertical-align:top}
th{background:#f0f2f5;position:sticky;top:0}
td.l,th.l{text-align:left}
td ul{min-width:340px}
tr.best td{background:#eaf6ec;font-weight:600}
tr.no td{color:#8a93a3}
.caption{color:#4a5366;font-size:0.85em;margin:4px 0 0}
.plot{width:100%;height:440px}
.scroll{max-height:420px;overflow:auto}
code{background:#f0f2f5;padding:0 3px;border-radius:3px}
"""


# ---- small helpers -------------------------------------------------------------------------------


def _e(x: Any) -> str:
    return html.escape("—" if x is None else str(x))


def _ok(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _table(head: list[str], rows: list[list[str]], classes: list[str] | None = None, left: int = 2) -> str:
    """An HTML table; cells are already escaped. The first ``left`` columns align left."""
    th = "".join(f'<th class="{"l" if i < left else ""}">{_e(h)}</th>' for i, h in enumerate(head))
    body = []
    for r, row in enumerate(rows):
        cls = f' class="{classes[r]}"' if classes and classes[r] else ""
        tds = "".join(f'<td class="{"l" if i < left else ""}">{c}</td>' for i, c in enumerate(row))
        body.append(f"<tr{cls}>{tds}</tr>")
    return (
        f'<div class="scroll"><table><thead><tr>{th}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'
    )


def _colours(names: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for n in names:
        if n not in out:
            out[n] = PALETTE[len(out) % len(PALETTE)]
    return out


class _Figures:
    """Collects Plotly figures as divs (the library's JavaScript is added once, inline)."""

    def __init__(self) -> None:
        self.count = 0

    def div(self, fig: Any, caption: str) -> str:
        self.count += 1
        fig.update_layout(
            template="plotly_white",
            height=440,
            margin={"l": 70, "r": 20, "t": 50, "b": 60},
            legend={"font": {"size": 11}},
        )
        body = fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=f"fig{self.count}",
            default_height="440px",
            config={"displaylogo": False, "responsive": True},
        )
        return f'<section class="card">{body}<p class="caption">{caption}</p></section>'


# ---- assumptions -----------------------------------------------------------------------------------


def _price_dates(data: dict[str, Any]) -> str:
    dates = sorted({p["as_of"] for p in data.get("prices", [])})
    if not dates:
        return "no published prices"
    span = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
    return f"{data['scenario']['pricing'].replace('_', '-')} prices (the cheapest current one per system), dated {span}"


def _assumptions(data: dict[str, Any], job: dict[str, Any] | None = None) -> str:
    sc = data["scenario"]
    parts = [
        _price_dates(data),
        f"PUE {sc['pue']:.2f} ({sc['pue_source']})",
        f"chips at {sc['power_fraction']:.0%} of TDP plus host power",
    ]
    if job is not None:
        spec = job["spec"]
        if job["kind"] == "serve":
            parts.append(
                f"weights {'/'.join(spec['weights'])}, KV cache bf16 (fp8 with fp8 weights where supported), "
                f"{spec['input_len']:,} in / {spec['output_len']:,} out tokens"
            )
        else:
            lora = f", LoRA rank {spec['lora_rank']}" if spec.get("lora_rank") else ""
            parts.append(
                f"precision {spec['precision']}{lora}, {spec['tokens']:.3g} tokens, "
                f"{spec['global_batch']:,} × {spec['seq_len']:,}-token sequences per step"
            )
    return "Assumptions: " + "; ".join(_e(p) for p in parts) + "."


# ---- tables ---------------------------------------------------------------------------------------


def _vs(o: dict[str, Any]) -> str:
    s, p = o.get("savings_vs_baseline"), o.get("price_perf_vs_baseline")
    if s is None or p is None:
        return "—"
    return f"{s * 100:+.0f}% cost · {p:.2f}× perf/$"


def _plan_table(job: dict[str, Any]) -> str:
    serve = job["kind"] == "serve"
    head = ["#", "system", "layout", "chips", "latency" if serve else "MFU"]
    head += [] if serve else ["time"]
    head += ["cost", "energy", "power", "price (kind, date)", "vs baseline / why not"]
    rows, classes = [], []
    for i, o in enumerate(job["options"], 1):
        row = [str(i), _e(o["system"]), _e(o["layout"]), f"{o['chips']:,}" if o["chips"] else "—"]
        flag = " !" if o.get("mfu_above_published") is not None else ""  # see the note below the table
        row.append(fmt.duration(o["time_s"]) if serve else fmt.pct(o["utilisation"]) + flag)
        if not serve:
            row.append(fmt.duration(o["time_s"]))
        price = f"{o['pricing'].replace('_', '-')}, {o['price_as_of']}" if o.get("pricing") else "—"
        row += [
            fmt.money(o["cost_usd"]),
            fmt.energy(o["energy_j"]),
            fmt.megawatts(o["facility_mw"]),
            _e(price),
            _e(_vs(o) if o["feasible"] else wording.reason_of(o)),
        ]
        rows.append(row)
        classes.append("best" if i == 1 and o["feasible"] else ("" if o["feasible"] else "no"))
    notes = "".join(
        f'<p class="caption">! {_e(note)}.</p>'
        for note in filter(None, map(wording.mfu_flag, job["options"]))
    )
    return _table(head, rows, classes, left=3) + notes


def _prices_table(data: dict[str, Any]) -> str:
    rows = [
        [
            _e(p["system"]),
            _e(p["pricing"].replace("_", "-")),
            f"{p['usd_per_node_hour']:,.2f}",
            f"{p['usd_per_chip_hour']:,.3f}",
            _e(p["region"]),
            _e(p["as_of"]),
            _e(p["source"]),
        ]
        for p in data.get("prices", [])
    ]
    head = ["system", "pricing", "$/node-hour", "$/chip-hour", "region", "as of", "source"]
    return _table(head, rows, left=2)


def _fleet_reason(data: dict[str, Any]) -> str | None:
    stuck = data.get("stuck") or []
    if not stuck:
        return wording.fleet_why(data["fleet"].get("why"), data["fleet"].get("culprits", ()))
    first = {j["job"]: (j["options"] or [None])[0] for j in data["jobs"]}
    return wording.stuck_reason(
        [
            (n, o["system"], wording.why_of(o.get("why"))) if o else (n, None, None)
            for n, o in ((n, first.get(n)) for n in stuck)
        ]
    )


def _fleet(data: dict[str, Any]) -> str:
    f = data["fleet"]
    if f["status"] != "optimal":
        return f"<p>No fleet plan: {_e(_fleet_reason(data))}</p>"
    rows = [
        [
            _e(a["job"]),
            _e(a["system"]),
            f"{a['chips'] * a['count']:,.0f}",
            _e(
                f"{a['count']:,.0f} groups, {wording.fleet_unit(a)}"
                if a["kind"] == "serve"
                else wording.fleet_unit(a)
            ),
            fmt.money(a["cost_usd"] * a["count"]),
        ]
        for a in f["assignment"]
    ]
    total = objective_value(f["objective"], f["value"])
    binding = "".join(
        f"<li>{_e(wording.binding_text(wording.binding_of(b), f['objective']))}</li>"
        for b in f.get("binding", [])
    )
    return (
        f"<p>Objective <b>{_e(f['objective'])}</b>: {_e(total)}</p>"
        + _table(["job", "system", "chips", "bought as", "cost"], rows, left=2)
        + (f"<ul>{binding}</ul>" if binding else "")
    )


def _dated_verdict(r: dict[str, Any]) -> str:
    """The verdict with the prices on record on the claim's date, under the latest one."""
    then = r.get("as_of_claim_date")
    if not then:
        return ""
    return f'<br><span class="caption">{_e(r.get("claim_date"))}: {_e(then["verdict"])}</span>'


def _hybrid(figs: _Figures, h: dict[str, Any]) -> str:
    """A hybrid job: where each class runs (stacked shares), the table, the devices, break-evens."""
    import plotly.graph_objects as go

    from xpuplan.report.hybrid_view import break_even_lines, where_text

    names = [c["name"] for c in h["classes"]]
    fig = go.Figure()
    for key, label, colour in (
        ("device_share", "on the device", PALETTE[2]),
        ("server_share", "on servers", PALETTE[0]),
        ("unserved_share", "not served (device-only, device cannot)", PALETTE[8]),
    ):
        fig.add_trace(
            go.Bar(x=names, y=[c[key] * 100 for c in h["classes"]], name=label, marker={"color": colour})
        )
    fig.update_layout(
        barmode="stack",
        title=f"{h['job']}: where each request class runs",
        yaxis={"title": "% of the class's requests", "range": [0, 100]},
    )
    rows = [
        [
            _e(c["name"]),
            _e(c["privacy"]),
            f"{c['requests_per_day'] / 1e6:,.0f}",
            _e(where_text(c)),
            fmt.duration(c["device_latency_s"]),
            "—" if c["device_energy_mwh"] is None else f"{c['device_energy_mwh']:.2f}",
            _e(f"{c['server_system']} × {c['server_chips']:,}" if c["server_system"] else "—"),
            fmt.duration(c["server_latency_s"]),
            fmt.money(c["usd_per_million_requests"]) if c["server_job"] else "$0",
        ]
        for c in h["classes"]
    ]
    head = [
        "class",
        "privacy",
        "M req/day",
        "where",
        "device latency",
        "device mWh/req",
        "server",
        "server latency",
        "$/M req",
    ]
    moves = "".join(
        f"<li><b>{_e(c['name'])}</b>: {_e('; '.join(break_even_lines(c)))}</li>"
        for c in h["classes"]
        if break_even_lines(c)
    )
    dev_rows = [
        [
            _e(g["name"]),
            f"{g['count'] / 1e6:,.0f} M",
            fmt.pct(g["on_device_share"]),
            f"{g['device_wh_per_day']:.3f}",
            "—" if g["battery_share_per_day"] is None else fmt.pct(g["battery_share_per_day"]),
        ]
        for g in h["devices"]
    ]
    src = "".join(
        f"<li>{_e(a['device'])} {_e(wording.assumption_what(a['kind'], a['path']))}: {_e(a['source'])} ({_e(a['as_of'])}) {_e(a['note'])}</li>"
        for a in h["assumptions"]
    )
    mwh = h["device_energy_mwh_per_request"]
    summary = (
        f"<p>{h['requests_per_day'] / 1e6:,.0f} M requests a day; servers {fmt.money(h['server_cost_usd'])} per "
        f"{h['hours']:g} h, {fmt.money(h['usd_per_million_requests'])} per million requests (on-device requests "
        f"cost the operator nothing); {f'{mwh:.2f}' if mwh else '—'} "
        f"mWh of device energy per on-device request; servers sized for {h['peak_to_mean']:g}× the mean rate.</p>"
    )
    return (
        f"<h2>{_e(h['job'])} <small class='meta'>(hybrid)</small></h2>"
        + figs.div(fig, "Share of each class's requests on the device, on servers, or not served.")
        + f'<section class="card">{summary}{_table(head, rows, left=2)}<ul>{moves}</ul></section>'
        + f'<section class="card"><h3>Devices</h3>{_table(["group", "devices", "on device", "Wh/day", "battery/day"], dev_rows, left=1)}'
        + f'<p class="caption">Device realism and its sources:</p><ul class="caption">{src}</ul></section>'
    )


def _claims(rows: list[dict[str, Any]]) -> str:
    """The claims table: what was claimed, what the model computes, the verdict and its conditions."""
    from xpuplan.claims.engine import fmt_value

    def computed(c: dict[str, Any] | None) -> str:
        if not c:
            return "—"
        lo, hi = fmt_value(c["low"], c["unit"]), fmt_value(c["high"], c["unit"])
        return _e(lo if lo == hi else f"{lo} to {hi}")

    body = []
    for r in rows:
        conds = "".join(f"<li>{_e(c)}</li>" for c in r.get("conditions", []))
        body.append(
            [
                _e(r["id"]),
                _e(r.get("statement") or r.get("title")),
                _e((r.get("claimed") or {}).get("text")),
                computed(r.get("computed")),
                f"<b>{_e(r['verdict'])}</b>" + _dated_verdict(r),
                f'<ul style="margin:0;padding-left:1.1em">{conds}</ul>' if conds else "—",
                f'<span title="{_e(r.get("who"))}: {_e(r.get("source"))}">{_e(r.get("as_of"))}</span>',
            ]
        )
    head = ["#", "claim", "claimed", "computed", "verdict", "conditions", "as of"]
    cap = (
        "Each claim is read as its file states (data/claims); the prices, precision and assumptions of "
        "every check are in <code>xpuplan claims show ID</code> and docs/claims.md (hover a date for who said it, and where)."
    )
    return _table(head, body, left=7) + f'<p class="caption">{cap}</p>'


def _rule(x: list[float], y: list[float], name: str) -> Any:
    """A dashed red reference line (a trace, so it works on log axes)."""
    import plotly.graph_objects as go

    return go.Scatter(
        x=x, y=y, mode="lines", name=name, line={"dash": "dash", "color": "#d62728"}, hoverinfo="name"
    )


def _hover(
    x: list[Any], y: list[Any], name: str, text: list[str], mode: str = "lines+markers", **style: Any
) -> Any:
    """A trace whose points say what they are on hover (``text``: one line of HTML a point)."""
    import plotly.graph_objects as go

    return go.Scatter(x=x, y=y, mode=mode, name=name, text=text, hoverinfo="text", **style)


def _time_cost(pts: list[dict[str, Any]], scale: float) -> tuple[list[float], list[float]]:
    """The x (``time_s`` in units of ``scale`` seconds) and y (``cost_usd``) of cost-time points."""
    return [p["time_s"] / scale for p in pts], [p["cost_usd"] for p in pts]


def _pareto_front(x: list[float], y: list[float]) -> Any:
    """The Pareto front (time vs cost) as a dotted step line through its points."""
    import plotly.graph_objects as go

    return go.Scatter(
        x=x,
        y=y,
        mode="lines",
        line={"shape": "hv", "color": "#333", "dash": "dot"},
        name="Pareto front",
        hoverinfo="skip",
    )


# ---- figures --------------------------------------------------------------------------------------


def _cost_time(figs: _Figures, data: dict[str, Any], job: dict[str, Any]) -> str:
    import plotly.graph_objects as go

    serve = job["kind"] == "serve"
    scale = 1.0 if serve else SECONDS_PER_DAY
    pts = [c for c in job["candidates"] if _ok(c["time_s"]) and _ok(c["cost_usd"]) and c["cost_usd"] > 0]
    fig = go.Figure()
    colours = _colours([c["vendor"] for c in pts])

    def hover(c: dict[str, Any]) -> str:
        why = "" if c["feasible"] else f"<br>{_e(wording.reason_of(c))}"
        when = fmt.duration(c["time_s"])
        return f"{_e(c['system'])} × {c['chips']:,}<br>{_e(c['layout'])}<br>{when}, {fmt.money(c['cost_usd'])}{why}"

    for vendor, colour in colours.items():
        vs = [c for c in pts if c["vendor"] == vendor and c["feasible"]]
        if vs:
            fig.add_trace(
                _hover(
                    *_time_cost(vs, scale),
                    vendor,
                    [hover(c) for c in vs],
                    mode="markers",
                    marker={"color": colour, "size": 9, "opacity": 0.85},
                )
            )
    miss = [c for c in pts if not c["feasible"]]
    if miss:
        fig.add_trace(
            _hover(
                *_time_cost(miss, scale),
                "misses a constraint",
                [hover(c) for c in miss],
                mode="markers",
                marker={"color": "#9aa1ad", "symbol": "x-thin", "size": 8, "line": {"width": 1.5}},
            )
        )
    front = sorted((c for c in pts if c["pareto"]), key=lambda c: c["time_s"])
    if front:
        fig.add_trace(_pareto_front(*_time_cost(front, scale)))
    for key, name, symbol, colour in (
        ("baseline", "baseline", "star-open", "#000"),
        ("best", "chosen", "circle-open", "#2ca02c"),
    ):
        sel = [c for c in pts if c[key] and (key == "best" or c["chosen"])]
        if sel:
            label = f"{name} ({sel[0]['system']})"
            fig.add_trace(
                _hover(
                    *_time_cost(sel, scale),
                    label,
                    [hover(c) for c in sel],
                    mode="markers",
                    marker={"symbol": symbol, "size": 20, "color": colour, "line": {"width": 2}},
                )
            )
    deadline = data["scenario"]["constraints"].get("deadline_days")
    if deadline and not serve:
        ys = [c["cost_usd"] for c in pts] or [1.0]
        fig.add_trace(
            _rule([deadline, deadline], [min(ys) / 1.5, max(ys) * 1.5], f"deadline ({deadline:g} days)")
        )
    fig.update_layout(
        title=f"{job['job']}: cost vs {'request latency' if serve else 'time to train'}, every candidate",
        xaxis={
            "title": "end-to-end latency per request (s)" if serve else "time to train (days)",
            "type": "log",
        },
        yaxis={"title": ("cost of the serving period" if serve else "cost") + " (USD)", "type": "log"},
    )
    what = (
        f"each system's replica group (1, 2 or 4 nodes) carrying {job['spec']['rate']:g} requests/s "
        f"for {job['spec']['hours']:g} h"
        if serve
        else "each system at every cluster size searched (×½ to ×4 around the deadline's first guess)"
    )
    cap = (
        f"Each point is {_e(what)}; the front joins the options no other beats on both axes. "
        + _assumptions(data, job)
    )
    return figs.div(fig, cap)


def _breakdown(figs: _Figures, data: dict[str, Any], job: dict[str, Any]) -> str:
    import plotly.graph_objects as go

    rows = list(reversed(job["breakdown"]))
    if not rows:
        return ""
    labels = [f"{r['system']} × {r['chips']:,}" for r in rows]
    t = go.Figure()
    for k, name in TIME_LABELS.items():
        xs = [r["time_s"].get(k, 0.0) for r in rows]
        if any(x > 0 for x in xs):
            t.add_trace(go.Bar(y=labels, x=xs, name=name, orientation="h"))
    t.update_layout(
        barmode="stack",
        title=f"{job['job']}: step-time breakdown of each system's chosen layout",
        xaxis={"title": "seconds per step (critical path)"},
    )
    m = go.Figure()
    for k, name in MEM_LABELS.items():
        m.add_trace(
            go.Bar(y=labels, x=[r["memory_gib"].get(k, 0.0) for r in rows], name=name, orientation="h")
        )
    m.add_trace(
        go.Scatter(
            y=labels,
            x=[r["memory_capacity_gib"] for r in rows],
            mode="markers",
            name="device capacity",
            marker={"symbol": "line-ns-open", "size": 22, "color": "#000", "line": {"width": 3}},
        )
    )
    m.update_layout(
        barmode="stack",
        title=f"{job['job']}: memory per device (most loaded device)",
        xaxis={"title": "GiB per device"},
    )
    why = "Exposed time only: communication hidden under compute is not shown. " + _assumptions(data, job)
    return figs.div(t, why) + figs.div(
        m, "Memory of the chosen layout on each system. " + _assumptions(data, job)
    )


def _scaling(figs: _Figures, data: dict[str, Any], job: dict[str, Any]) -> str:
    import plotly.graph_objects as go

    series = [s for s in job.get("scaling", []) if any(_ok(p["tokens_per_s"]) for p in s["points"])]
    if not series:
        return ""
    fig = go.Figure()
    colours = _colours([s["chip"] for s in series])
    for s in series:
        pts = [p for p in s["points"] if _ok(p["tokens_per_s"])]
        fig.add_trace(
            _hover(
                [p["chips"] for p in pts],
                [p["tokens_per_s"] for p in pts],
                f"{s['chip']} ({s['system']})",
                [
                    f"{p['chips']:,} chips: {p['tokens_per_s']:,.0f} tokens/s "
                    f"({p['tokens_per_s_per_chip']:,.0f}/chip, MFU {fmt.pct(p['mfu'])})<br>{_e(p['layout'])}"
                    for p in pts
                ],
                line={"color": colours[s["chip"]]},
            )
        )
        p0 = pts[0]
        fig.add_trace(
            go.Scatter(
                x=[p["chips"] for p in pts],
                y=[p0["tokens_per_s"] * p["chips"] / p0["chips"] for p in pts],
                mode="lines",
                line={"color": colours[s["chip"]], "dash": "dot", "width": 1},
                name=f"linear from {p0['chips']:,}",
                showlegend=False,
                hoverinfo="skip",
            )
        )
    fig.update_layout(
        title=f"{job['job']}: training throughput vs chip count (best layout at each size)",
        xaxis={"title": "chips", "type": "log"},
        yaxis={"title": "tokens per second", "type": "log"},
    )
    cap = (
        f"Layout search at each size ({_e(job['scaling_space'])}); dotted: linear scaling from the "
        f"smallest size. " + _assumptions(data, job)
    )
    return figs.div(fig, cap)


def _serving(figs: _Figures, data: dict[str, Any], job: dict[str, Any]) -> str:
    import plotly.graph_objects as go

    series = [s for s in job.get("serving", []) if s["points"]]
    if not series:
        return ""
    fig = go.Figure()
    colours = _colours([s["system"] for s in series])
    for s in series:
        pts = s["points"]
        fig.add_trace(
            _hover(
                [p["output_tokens_per_s"] for p in pts],
                [p["tpot_s"] * 1e3 for p in pts],
                f"{s['system']} ({s['chips']} chips, {s['layout']})",
                [
                    f"batch {p['batch']}: {p['output_tokens_per_s']:,.0f} tok/s, "
                    f"TPOT {fmt.duration(p['tpot_s'])}, TTFT {fmt.duration(p['ttft_s'])}"
                    for p in pts
                ],
                line={"color": colours[s["system"]]},
            )
        )
    spec = job["spec"]
    if spec.get("tpot_ms"):
        xs = [p["output_tokens_per_s"] for s in series for p in s["points"]]
        fig.add_trace(
            _rule(
                [min(xs) / 1.5, max(xs) * 1.5], [spec["tpot_ms"]] * 2, f"TPOT target ({spec['tpot_ms']:g} ms)"
            )
        )
    fig.update_layout(
        title=f"{job['job']}: latency vs throughput (one replica group, batch 1 to the memory limit)",
        xaxis={"title": "output tokens per second per group", "type": "log"},
        yaxis={"title": "time per output token (ms)", "type": "log"},
    )
    cap = (
        "Continuous batching; each point doubles the sequences in flight; the layout is the "
        f"best one under the targets (TTFT ≤ {_e(spec.get('ttft_ms'))} ms, TPOT ≤ {_e(spec.get('tpot_ms'))} ms). "
        + _assumptions(data, job)
    )
    return figs.div(fig, cap)


def _validation(figs: _Figures, v: dict[str, Any]) -> str:
    import plotly.graph_objects as go

    cases = [c for c in v["cases"] if _ok(c["predicted"]) and _ok(c["measured"]) and c["measured"] > 0]
    cases = [c for c in cases if c["predicted"] > 0]
    if not cases:
        return "<p>No case could be predicted.</p>"
    lo = min(min(c["measured"], c["predicted"]) for c in cases) / 2
    hi = max(max(c["measured"], c["predicted"]) for c in cases) * 2
    xs = [lo * (hi / lo) ** (i / 40) for i in range(41)]
    fig = go.Figure()
    for band, colour in BAND_COLOURS:
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=[x * (1 - band) for x in xs],
                mode="lines",
                line={"width": 0},
                showlegend=False,
                hoverinfo="skip",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=[x * (1 + band) for x in xs],
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor=colour,
                name=f"±{band:.0%}",
                hoverinfo="skip",
            )
        )
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line={"color": "#333"}, name="exact"))
    for group, colour, symbol, vs in _vendor_task_groups(cases):
        fig.add_trace(
            _hover(
                [c["measured"] for c in vs],
                [c["predicted"] for c in vs],
                group,
                [
                    f"{_e(c['id'])}<br>{_e(c['metric'])}: predicted {c['predicted']:,.4g}, "
                    f"measured {c['measured']:,.4g} ({fmt.pct(c['error'])} off)"
                    for c in vs
                ],
                mode="markers",
                marker={"color": colour, "symbol": symbol, "size": 9},
            )
        )
    fig.update_layout(
        title="Validation: predicted vs measured, published runs",
        xaxis={"title": "measured (case's metric)", "type": "log"},
        yaxis={"title": "predicted", "type": "log"},
    )
    cap = (
        f"Cases from <code>{_e(v['file'])}</code>; each is compared on the metric its source states "
        "(training: tokens/s per chip, else MFU; inference: output tokens/s, else TPOT, TTFT or "
        "end-to-end latency), with the case's stated layout, precision and chip count. Bands: ±15% and ±25%."
    )
    return figs.div(fig, cap) + _validation_ratio(figs, cases)


def _vendor_task_groups(cases: list[dict[str, Any]]) -> list[tuple[str, str, str, list[dict[str, Any]]]]:
    """Validation cases by vendor (a colour each) and task (a symbol each: training circles,
    inference squares), as ("VENDOR TASK", colour, symbol, cases); empty groups left out."""
    out = []
    for vendor, colour in _colours([c["vendor"] for c in cases]).items():
        for task, symbol in (("train", "circle"), ("infer", "square")):
            vs = [c for c in cases if c["vendor"] == vendor and c["task"] == task]
            if vs:
                out.append((f"{vendor} {task}", colour, symbol, vs))
    return out


def _validation_ratio(figs: _Figures, cases: list[dict[str, Any]]) -> str:
    """The same cases as predicted ÷ measured per vendor and task, so the error bands are readable."""
    import plotly.graph_objects as go

    ratios = [c["predicted"] / c["measured"] for c in cases]
    fig = go.Figure()
    for band, colour in BAND_COLOURS:
        fig.add_hrect(y0=1 - band, y1=1 + band, fillcolor=colour, line_width=0, layer="below")
    fig.add_hline(y=1.0, line={"color": "#333", "width": 1})
    for group, colour, symbol, vs in _vendor_task_groups(cases):
        fig.add_trace(
            _hover(
                [group] * len(vs),
                [c["predicted"] / c["measured"] for c in vs],
                group,
                [f"{_e(c['id'])}: {c['predicted'] / c['measured']:.2f}×" for c in vs],
                mode="markers",
                marker={"color": colour, "symbol": symbol, "size": 10, "opacity": 0.8},
            )
        )
    fig.update_layout(
        title="Validation: predicted ÷ measured per vendor (shaded: ±15% and ±25%)",
        yaxis={
            "title": "predicted ÷ measured",
            "range": [min(0.5, min(ratios) - 0.1), max(1.5, max(ratios) + 0.1)],
        },
        showlegend=False,
    )
    cap = "One point per case, on the metric its source states; above 1 the model predicts more than was measured."
    return figs.div(fig, cap)


def _validation_summary(v: dict[str, Any]) -> str:
    s = v["summary"]
    # the per-task statistics (summarise also returns by_chip tables and plain counts)
    rows = [(k, st) for k, st in s.items() if isinstance(st, dict) and "n" in st]
    rows += [(f"{vendor} / {task}", st) for vendor, d in s["by_vendor"].items() for task, st in d.items()]
    body = [
        [_e(name), str(st["n"]), str(st["predicted"]), fmt.pct(st["median_error"]), fmt.pct(st["p90_error"])]
        for name, st in rows
    ]
    return _table(["set", "cases", "predicted", "median error", "p90 error"], body, left=1)


# ---- the page -------------------------------------------------------------------------------------


def _job_section(figs: _Figures, data: dict[str, Any], job: dict[str, Any]) -> str:
    spec = job["spec"]
    head = f"<h2>{_e(job['job'])} <small class='meta'>({_e(job['kind'])}, {_e(spec['model'])})</small></h2>"
    parts = [
        head,
        f'<section class="card"><h3>Ranked plan</h3>{_plan_table(job)}'
        f'<p class="caption">{_assumptions(data, job)}</p></section>',
    ]
    s = job.get("sensitivity")
    if s and s.get("runner_up") and s.get("break_even_price_ratio"):
        parts.append(
            f"<p>Runner-up <b>{_e(s['runner_up'])}</b> would win if its price fell to "
            f"{s['break_even_price_ratio']:.2f}× today's, or its throughput rose "
            f"{s['break_even_efficiency_ratio']:.2f}×.</p>"
        )
    parts.append(_cost_time(figs, data, job))
    if job["kind"] == "serve":
        parts.append(_serving(figs, data, job))
    else:
        parts += [_breakdown(figs, data, job), _scaling(figs, data, job)]
    return "\n".join(parts)


def render_html(data: dict[str, Any], version: str = "") -> str:
    """The whole report as one HTML document."""
    from plotly.offline import get_plotlyjs

    figs = _Figures()
    sc = data["scenario"]
    cons = ", ".join(f"{k} {v}" for k, v in sc["constraints"].items() if v not in (None, {}, [])) or "none"
    body = [
        f"<h1>{_e(data['title'])}</h1>",
        f'<p class="meta">xpuplan {_e(version)} · generated {_e(data["generated"])} · objective '
        f"<b>{_e(sc['objective'])}</b> · baseline {_e(sc['baseline'])} · constraints: {_e(cons)}</p>",
    ]
    body += [_hybrid(figs, h) for h in data.get("hybrid", [])]
    body += [_job_section(figs, data, j) for j in data["jobs"]]
    body.append(f'<h2>Fleet plan</h2><section class="card">{_fleet(data)}</section>')
    if data.get("claims"):
        body.append(
            f'<h2>Vendor claims, checked</h2><section class="card">{_claims(data["claims"])}</section>'
        )
    v = data.get("validation")
    if v:
        body.append("<h2>How accurate is the model?</h2>")
        body.append(_validation(figs, v))
        body.append(f'<section class="card">{_validation_summary(v)}</section>')
    notes = "".join(f"<li>{_e(n)}</li>" for n in wording.plan_notes(data.get("assumptions")))
    body.append(
        f'<h2>Assumptions and prices</h2><section class="card"><ul>{notes}</ul>{_prices_table(data)}</section>'
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(data['title'])}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{CSS}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script>'
        f"</head><body><main>{''.join(body)}</main></body></html>\n"
    )

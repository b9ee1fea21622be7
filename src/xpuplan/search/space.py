"""Enumerate parallel layouts as NumPy columns: products of candidate values, masked by rules.

No Python loop runs over layouts: each dimension is added by a cartesian expansion of the columns
built so far (``np.repeat`` / ``np.tile``) followed by a vectorised mask. Candidate values per
dimension are the divisors that can possibly be valid (e.g. TP divides the chip count and is no
larger than the scale-up domain); everything else is decided by the masks in
:func:`xpuplan.layout.check`, so a user can ask why an expected layout is absent.

Pruning, with the reason it is safe (never sampling):

* DP is implied: ``dp = chips / (tp · pp · cp)``; other values cannot use all chips.
* Micro-batch sizes are divisors of the per-replica batch, capped at ``max_microbatch`` (default
  64 sequences): larger micro-batches only add activation memory once GEMMs are past their knee.
* Virtual stages are divisors of the layers per stage, capped at ``max_vpp`` (default 16).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from xpuplan.layout.layout import LAYOUT_FIELDS, PIPELINE_EXTRA_SLOTS, LayoutArray
from xpuplan.workload.model import Model


def divisors(n: int) -> np.ndarray:
    """All positive divisors of ``n`` (vectorised trial division up to sqrt)."""
    n = int(n)
    if n < 1:
        return np.array([], dtype=np.int64)
    k = np.arange(1, math.isqrt(n) + 1, dtype=np.int64)
    small = k[n % k == 0]
    return np.unique(np.concatenate([small, n // small]))


@dataclass(frozen=True)
class SpaceOptions:
    """Bounds of the search space; ``fixed`` pins any layout field to one value."""

    max_microbatch: int = 64
    max_vpp: int = 16
    max_cp: int = 64
    fixed: Mapping[str, int] | None = None


def _expand(
    cols: dict[str, np.ndarray], name: str, values: Sequence[int] | np.ndarray
) -> dict[str, np.ndarray]:
    vals = np.asarray(values, dtype=np.int64)
    n = len(next(iter(cols.values()))) if cols else 1
    out = {k: np.repeat(v, len(vals)) for k, v in cols.items()}
    out[name] = np.tile(vals, n)
    return out


def _filter(cols: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[mask] for k, v in cols.items()}


def enumerate_space(
    model: Model,
    chips: int,
    global_batch: int,
    seq_len: int,
    domain: int,
    opts: SpaceOptions | None = None,
) -> LayoutArray:
    """Every candidate layout for the job on ``chips`` chips with a ``domain``-chip scale-up domain."""
    opts = opts or SpaceOptions()
    fixed = dict(opts.fixed or {})
    div_chips = divisors(chips)

    def cand(name: str, values: np.ndarray) -> np.ndarray:
        return np.array([int(fixed[name])], dtype=np.int64) if name in fixed else values

    tp_vals = cand("tp", div_chips[div_chips <= max(domain, 1)])
    cp_vals = cand(
        "cp",
        div_chips[(div_chips <= opts.max_cp) & ((div_chips == 1) | (seq_len % (2 * div_chips) == 0))],
    )
    slots = model.layers + PIPELINE_EXTRA_SLOTS  # the embedding and the loss take a slot each
    pp_vals = cand("pp", div_chips[div_chips <= slots])
    cols = _expand({}, "tp", tp_vals)
    cols = _expand(cols, "cp", cp_vals)
    cols = _expand(cols, "pp", pp_vals)
    prod = cols["tp"] * cols["cp"] * cols["pp"]
    cols = _filter(cols, chips % prod == 0)
    cols["dp"] = chips // (cols["tp"] * cols["cp"] * cols["pp"])
    if "dp" in fixed:
        cols = _filter(cols, cols["dp"] == int(fixed["dp"]))
    # virtual stages: 1..max_vpp, only with PP > 1 and at least one layer per chunk; when the
    # layers split unevenly the slowest stage sets the pace, so only even chunkings of the stage
    # (ceil(L/pp) divisible by vpp) are kept beyond vpp = 1.
    vpp_vals = cand("vpp", np.arange(1, opts.max_vpp + 1, dtype=np.int64))
    cols = _expand(cols, "vpp", vpp_vals)
    lps = -(-model.layers // cols["pp"])
    cols = _filter(
        cols,
        ((cols["vpp"] == 1) | ((cols["pp"] > 1) & (lps % cols["vpp"] == 0)))
        & (cols["pp"] * cols["vpp"] <= slots),
    )
    # expert parallel: divisors of the expert count that divide DP·CP, or TP·DP·CP with each
    # expert whole on one rank (Megatron-Core MoE parallel folding, perf.train.expert_tp)
    ep_all = divisors(model.moe.experts) if model.moe else np.array([1], dtype=np.int64)
    cols = _expand(cols, "ep", cand("ep", ep_all))
    dpc = cols["dp"] * cols["cp"]
    cols = _filter(cols, (dpc % cols["ep"] == 0) | ((cols["tp"] * dpc) % cols["ep"] == 0))
    # micro-batch: divisors of the per-replica batch
    mb_all = divisors(global_batch)
    cols = _expand(cols, "microbatch", cand("microbatch", mb_all[mb_all <= opts.max_microbatch]))
    cols = _filter(cols, global_batch % (cols["dp"] * cols["microbatch"]) == 0)
    # categorical switches
    for name, values in (
        ("zero", [0, 1, 2, 3]),
        ("sp", [0, 1]),
        ("recompute", [0, 1, 2]),
        ("tp_overlap", [0, 1]),
        ("dp_overlap", [0, 1]),
        ("recompute_layers", [0]),
    ):
        cols = _expand(cols, name, cand(name, np.array(values, dtype=np.int64)))
    # switches that do nothing on a row keep one of its two values (a pinned value stays, and a
    # pinned SP without TP reaches check(), which says why it is refused): SP and the TP overlap at
    # TP 1; the DP overlap of a dense model with no gradient reduction (DP x CP = 1)
    cols = _filter(
        cols,
        ((cols["sp"] == 0) | (cols["tp"] > 1) | ("sp" in fixed))
        & ((cols["tp_overlap"] == 0) | (cols["tp"] > 1) | ("tp_overlap" in fixed))
        & (
            (cols["dp_overlap"] == 1)
            | (cols["dp"] * cols["cp"] > 1)
            | bool(model.moe)
            | ("dp_overlap" in fixed)
        )
        & ((cols["zero"] == 0) | (cols["dp"] * cols["cp"] > 1) | ("zero" in fixed)),
    )
    return LayoutArray(**{f: cols[f].astype(np.int64) for f in LAYOUT_FIELDS})


def usable_counts(n: int, limit: int = 8) -> list[int]:
    """Chip counts below ``n`` a layout is likely to use, largest first: ``k · 2^j`` for small odd
    ``k`` (1, 3, 5, 7, 9, 15). A cluster of 100,000 (2^5·5^5) or 5,128 (8·641) chips rarely holds a
    layout of its own; the largest of these that does is what a job can run on, the rest idle."""
    out: set[int] = set()
    for k in (1, 3, 5, 7, 9, 15):
        j = 0
        while k * 2 ** (j + 1) <= n:
            j += 1
        if k * 2**j < n:
            out.add(k * 2**j)
    return sorted(out, reverse=True)[:limit]

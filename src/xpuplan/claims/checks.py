"""The methods that turn a claim's test into figures: one registry entry per :class:`Method`.

Each method parses its ``[checks.test]`` table into a frozen record (every name resolved, every
unit checked) and runs it through the model, returning one :class:`Case` per comparison:

* ``train`` / ``serve``: the best layout (training search, as in :mod:`xpuplan.planner.rank`) or
  serving configuration per system, then subject vs baseline as a ratio of work per second, per
  dollar or per joule. Where the subject has a price, the break-even price at which the claim
  would hold is solved for: the price enters the ratio linearly, so
  ``p* = (work/s per chip)_s / (R* · (work per dollar per chip)_b)``.
* ``spec``: catalog values per chip or per scale-up domain (UltraServer, pod).
* ``facility``: ``chips × chip W × (1 + host) × (1 + network) × PUE``, with the chip power taken
  from the catalog or, where no TDP is published, from the peak FLOP/s per watt of named chips.
* ``on_device`` / ``hybrid``: one request on one device (static batch of one), and the share of a
  request-length mix that meets a latency target there.
* ``outside``: not a quantity the model computes; the reason is the result.
"""

from __future__ import annotations

from xpuplan.claims.absolute import (
    parse_facility,
    parse_hybrid,
    parse_on_device,
    parse_outside,
    run_facility,
    run_hybrid,
    run_on_device,
    run_outside,
)
from xpuplan.claims.cases import Case, MethodDef, Outcome, Threshold
from xpuplan.claims.compare import parse_serve, parse_spec, parse_train, run_serve, run_spec, run_train
from xpuplan.claims.spec import Method

__all__ = ["METHODS", "Case", "MethodDef", "Outcome", "Threshold"]

METHODS: dict[Method, MethodDef] = {
    Method.TRAIN: MethodDef(parse_train, run_train),
    Method.SERVE: MethodDef(parse_serve, run_serve),
    Method.SPEC: MethodDef(parse_spec, run_spec),
    Method.FACILITY: MethodDef(parse_facility, run_facility),
    Method.ON_DEVICE: MethodDef(parse_on_device, run_on_device),
    Method.HYBRID: MethodDef(parse_hybrid, run_hybrid),
    Method.OUTSIDE: MethodDef(parse_outside, run_outside),
}

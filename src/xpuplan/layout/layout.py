"""Parallel layouts and their validity rules.

A :class:`Layout` is one choice of TP, PP (+ virtual stages), DP with a ZeRO stage, SP, CP, EP,
micro-batch, recompute policy and overlap switches. :class:`LayoutArray` holds many layouts as
NumPy columns for the vectorised search; every rule here works on both, and returns *reasons*
(a :class:`Reason` code per layout), never exceptions — infeasible is a value.

Rank placement follows Megatron-LM's default order, innermost first: TP, CP, DP (EP is carved out of
DP), PP. A group therefore stays inside a scale-up domain when the product of its own degree and the
degrees inside it fits the domain.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from enum import IntEnum
from typing import Any

import numpy as np

from xpuplan.errors import InputError
from xpuplan.workload.model import Model


class Recompute(IntEnum):
    """Activation recomputation policy (Korthikanti et al. 2022)."""

    NONE = 0
    SELECTIVE = 1  # recompute the attention core only
    FULL = 2  # store layer inputs only, recompute the whole layer in backward
    # layer inputs (and any other saved tensors) offloaded to host memory, the layer recomputed in
    # backward: MaxText remat_policy custom with decoder_layer_input=offload (JAX
    # save_and_offload_only_these_names, offload_dst="pinned_host")
    OFFLOAD = 3

    @classmethod
    def parse(cls, value: str | int | Recompute) -> Recompute:
        if isinstance(value, str):
            return cls[value.strip().upper()]
        return cls(value)


# pipeline slots beside the transformer layers: the embedding and the loss (see ``check``)
PIPELINE_EXTRA_SLOTS = 2


class Reason(IntEnum):
    """Why a layout is infeasible. 0 means feasible."""

    OK = 0
    CHIPS_MISMATCH = 1  # tp·pp·dp·cp != chip count
    TP_HEADS = 2  # heads (or kv heads) not divisible by TP
    TP_DOMAIN = 3  # TP group larger than the scale-up domain
    PP_LAYERS = 4  # more pipeline chunks (PP·VPP) than layers
    BATCH = 5  # global batch not divisible by DP·micro-batch
    MICROBATCHES = 6  # interleaving needs micro-batches divisible by PP
    EP_EXPERTS = 7  # experts not divisible by EP, or EP without MoE
    EP_DP = 8  # EP must divide DP·CP, or TP·DP·CP with experts unsplit (MoE parallel folding)
    CP_SEQ = 9  # sequence not divisible by 2·CP (load-balanced causal CP)
    SP_NO_TP = 10  # sequence parallelism needs TP > 1
    VPP_NO_PP = 11  # virtual stages need PP > 1
    ZERO_STAGE = 12  # ZeRO stage outside 0..3
    MEMORY = 13  # does not fit device memory
    DTYPE = 14  # the chip has no such number format
    CLUSTER = 15  # more chips than the system's largest cluster
    BAD_DEGREE = 16  # a degree < 1

    @property
    def text(self) -> str:
        return REASON_TEXT[self]


REASON_TEXT: dict[Reason, str] = {
    Reason.OK: "fits",
    Reason.CHIPS_MISMATCH: "tp × pp × dp × cp must equal the chip count",
    Reason.TP_HEADS: "attention heads and KV heads must be divisible by TP",
    Reason.TP_DOMAIN: "TP group must fit in and divide the scale-up domain (TP stays on the fast fabric)",
    Reason.PP_LAYERS: "PP × virtual stages must not exceed the number of layers + 2 (the embedding and the loss)",
    Reason.BATCH: "global batch must be divisible by DP × micro-batch",
    Reason.MICROBATCHES: "interleaved pipelines need micro-batches per step divisible by PP",
    Reason.EP_EXPERTS: "experts must be divisible by EP (EP > 1 needs an MoE model)",
    Reason.EP_DP: (
        "EP must divide DP × CP, or TP × DP × CP with each expert whole on one rank (experts are "
        "sharded across data-parallel ranks)"
    ),
    Reason.CP_SEQ: "sequence length must be divisible by 2 × CP",
    Reason.SP_NO_TP: "sequence parallelism needs TP > 1",
    Reason.VPP_NO_PP: "virtual pipeline stages need PP > 1",
    Reason.ZERO_STAGE: "ZeRO stage must be 0, 1, 2 or 3",
    Reason.MEMORY: "does not fit in device memory",
    Reason.DTYPE: "the chip does not support this precision",
    Reason.CLUSTER: "more chips than the largest cluster built of this system",
    Reason.BAD_DEGREE: "every parallel degree must be ≥ 1",
}


@dataclass(frozen=True, slots=True)
class Layout:
    """One parallel layout. ``dp`` counts data-parallel replicas (ZeRO/FSDP shard across them)."""

    tp: int = 1
    pp: int = 1
    dp: int = 1
    cp: int = 1
    ep: int = 1
    vpp: int = 1  # virtual pipeline stages per PP rank (interleaved 1F1B)
    zero: int = 1  # ZeRO stage 0..3 (3 == FSDP full sharding)
    sp: bool = False  # sequence parallelism (Korthikanti et al. 2022)
    microbatch: int = 1  # sequences per micro-batch
    recompute: Recompute = Recompute.NONE
    tp_overlap: bool = False  # overlap TP collectives with GEMMs
    dp_overlap: bool = True  # overlap DP gradient reduction with backward
    # full recompute / offload of only the first N layers of each model chunk, the rest keep their
    # activations (Megatron-LM --recompute-method block --recompute-num-layers N); 0 = every layer
    recompute_layers: int = 0

    @property
    def chips(self) -> int:
        return self.tp * self.pp * self.dp * self.cp

    def grad_accum(self, global_batch: int) -> int:
        return global_batch // (self.dp * self.microbatch)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["recompute"] = self.recompute.name.lower()
        return d

    def describe(self) -> str:
        parts = [f"TP{self.tp}", f"PP{self.pp}"]
        if self.vpp > 1:
            parts.append(f"v{self.vpp}")
        parts.append(f"DP{self.dp}")
        if self.cp > 1:
            parts.append(f"CP{self.cp}")
        if self.ep > 1:
            parts.append(f"EP{self.ep}")
        parts.append(f"ZeRO{self.zero}" if self.zero < 3 else "FSDP")
        if self.sp:
            parts.append("SP")
        parts.append(f"mb{self.microbatch}")
        if self.recompute is not Recompute.NONE:
            parts.append(f"rc-{self.recompute.name.lower()}")
        if self.recompute_layers and self.recompute >= Recompute.FULL:
            parts.append(f"rcl{self.recompute_layers}")
        return " ".join(parts)


LAYOUT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Layout))

# The notation of :meth:`Layout.describe` read back: token pattern → (field, value from the match).
_NOTATION: tuple[tuple[str, str, Callable[[str], Any]], ...] = (
    (r"TP(\d+)", "tp", int),
    (r"PP(\d+)", "pp", int),
    (r"v(\d+)", "vpp", int),
    (r"DP(\d+)", "dp", int),
    (r"CP(\d+)", "cp", int),
    (r"EP(\d+)", "ep", int),
    (r"ZeRO(\d+)", "zero", int),
    (r"(FSDP)", "zero", lambda _: 3),
    (r"(SP)", "sp", lambda _: True),
    (r"mb(\d+)", "microbatch", int),
    (r"rc-(\w+)", "recompute", Recompute.parse),
    (r"rcl(\d+)", "recompute_layers", int),
)


def parse_layout(text: str) -> dict[str, Any]:
    """The fields a layout in the tables' notation states (``"TP4 PP2 v5 DP8 FSDP SP mb1
    rc-selective"``, as :meth:`Layout.describe` writes it): degrees not named are left out, for
    the caller to default or imply. Unknown, garbled or repeated tokens are an :class:`InputError`."""
    out: dict[str, Any] = {}
    tokens = text.split()
    if not tokens:
        raise InputError("no layout given", 'e.g. "TP4 PP2 DP8 mb1"')
    for tok in tokens:
        for pattern, name, value in _NOTATION:
            m = re.fullmatch(pattern, tok, flags=re.IGNORECASE)
            if m is None:
                continue
            if name in out:
                raise InputError(f"layout '{text}' states {name} twice", "Give each degree once")
            try:
                out[name] = value(m.group(1))
            except KeyError:
                raise InputError(
                    f"unknown recompute policy in '{tok}'", "Use rc-none, rc-selective, rc-full or rc-offload"
                ) from None
            break
        else:
            raise not_notation(tok)
    return out


def not_notation(tok: str) -> InputError:
    """The error for a token that is not part of the layout notation (parsed or explained)."""
    return InputError(
        f"'{tok}' is not part of the layout notation",
        "Use tokens such as TP4, PP2, v2, DP64, CP2, EP8, ZeRO1, FSDP, SP, mb1, rc-selective",
    )


@dataclass(frozen=True)
class LayoutArray:
    """Many layouts as equal-length NumPy columns (ints; booleans as 0/1)."""

    tp: np.ndarray
    pp: np.ndarray
    dp: np.ndarray
    cp: np.ndarray
    ep: np.ndarray
    vpp: np.ndarray
    zero: np.ndarray
    sp: np.ndarray
    microbatch: np.ndarray
    recompute: np.ndarray
    tp_overlap: np.ndarray
    dp_overlap: np.ndarray
    recompute_layers: np.ndarray

    def __len__(self) -> int:
        return int(self.tp.shape[0])

    @classmethod
    def from_layouts(cls, layouts: list[Layout]) -> LayoutArray:
        cols = {f: np.array([int(getattr(lo, f)) for lo in layouts], dtype=np.int64) for f in LAYOUT_FIELDS}
        return cls(**cols)

    @classmethod
    def from_layout(cls, layout: Layout) -> LayoutArray:
        return cls.from_layouts([layout])

    def take(self, idx: np.ndarray) -> LayoutArray:
        return LayoutArray(**{f: getattr(self, f)[idx] for f in LAYOUT_FIELDS})

    def row(self, i: int) -> Layout:
        kw: dict[str, Any] = {f: int(getattr(self, f)[i]) for f in LAYOUT_FIELDS}
        for b in ("sp", "tp_overlap", "dp_overlap"):
            kw[b] = bool(kw[b])
        kw["recompute"] = Recompute(kw["recompute"])
        return Layout(**kw)

    @property
    def chips(self) -> np.ndarray:
        return self.tp * self.pp * self.dp * self.cp


def check(
    lay: LayoutArray,
    model: Model,
    chips: int,
    global_batch: int,
    seq_len: int,
    domain_chips: int,
) -> np.ndarray:
    """Structural validity of each layout: a :class:`Reason` code per row (0 = valid).

    The first failing rule, in the order of :class:`Reason`, is reported. Memory is checked by perf.
    """
    n = len(lay)
    reason = np.zeros(n, dtype=np.int8)

    def flag(mask: np.ndarray, r: Reason) -> None:
        reason[(reason == 0) & mask] = int(r)

    degrees = np.stack([lay.tp, lay.pp, lay.dp, lay.cp, lay.ep, lay.vpp, lay.microbatch])
    flag(np.asarray((degrees < 1).any(axis=0)) | (lay.recompute_layers < 0), Reason.BAD_DEGREE)
    safe = {f: np.maximum(getattr(lay, f), 1) for f in ("tp", "pp", "dp", "cp", "ep", "vpp", "microbatch")}
    flag(lay.chips != chips, Reason.CHIPS_MISMATCH)
    tp = safe["tp"]
    kv_split = np.where(tp <= model.kv_heads, model.kv_heads % tp, tp % model.kv_heads)
    flag((model.heads % tp != 0) | (kv_split != 0), Reason.TP_HEADS)
    # a TP group must sit inside one scale-up domain: no larger than it, and dividing it so that
    # groups never straddle two domains (NVL72: TP 2, 4, 8, ... up to 72, never 16 or 32)
    flag((lay.tp > domain_chips) | (domain_chips % tp != 0), Reason.TP_DOMAIN)
    # Uneven splits are allowed (Megatron-LM, BLOOM's 70 layers on PP12): the slowest stage sets
    # the pace, see perf.train.stage_layers. The embedding and the loss may take a pipeline slot
    # each, so PP × VPP may reach layers + 2: Megatron-Core's account_for_embedding_in_pipeline_split
    # and account_for_loss_in_pipeline_split (NVIDIA/Megatron-LM @dc13771
    # megatron/core/transformer/transformer_layer.py, get_transformer_layer_offset: "num_layers += 1"
    # for each), which Megatron-Bridge's Llama 3.1 405B recipes set for "128 effective layers" on
    # 126 (NVIDIA-NeMo/Megatron-Bridge @6f6f95e src/megatron/bridge/recipes/llama/llama3.py).
    flag(safe["pp"] * safe["vpp"] > model.layers + PIPELINE_EXTRA_SLOTS, Reason.PP_LAYERS)
    flag(global_batch % (safe["dp"] * safe["microbatch"]) != 0, Reason.BATCH)
    micro = global_batch // (safe["dp"] * safe["microbatch"])
    flag((lay.vpp > 1) & (micro % safe["pp"] != 0), Reason.MICROBATCHES)
    experts = model.moe.experts if model.moe else 1
    flag((experts % safe["ep"] != 0) | ((lay.ep > 1) & (model.moe is None)), Reason.EP_EXPERTS)
    # Megatron-Core MoE parallel folding: the expert layers re-slice the TP·CP·DP ranks as
    # ETP·EP·EDP, so EP may also span the TP ranks when each expert stays whole (ETP = 1)
    dpc = safe["dp"] * safe["cp"]
    flag((dpc % safe["ep"] != 0) & ((safe["tp"] * dpc) % safe["ep"] != 0), Reason.EP_DP)
    flag((lay.cp > 1) & (seq_len % (2 * safe["cp"]) != 0), Reason.CP_SEQ)
    flag((lay.sp == 1) & (lay.tp == 1), Reason.SP_NO_TP)
    flag((lay.vpp > 1) & (lay.pp == 1), Reason.VPP_NO_PP)
    flag((lay.zero < 0) | (lay.zero > 3), Reason.ZERO_STAGE)
    return reason

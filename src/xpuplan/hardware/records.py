"""Frozen, typed catalog records, in SI.

The TOML/CSV files under ``xpuplan/data`` carry units in their keys (``bandwidth_tbyte_s``,
``link_gbyte_s``, ``tdp_w``); :mod:`xpuplan.hardware.catalog` converts them once, here everything is
bytes, bytes/s, FLOP/s, watts and USD/s. ``docs/catalog.md`` documents the file schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from xpuplan.datafiles import as_dict

__all__ = [
    "Chip",
    "Dtype",
    "Efficiency",
    "EnergyDefaults",
    "Interval",
    "NetworkKind",
    "PowerSpec",
    "Price",
    "Pricing",
    "Provenance",
    "ScaleOut",
    "ScaleUp",
    "System",
    "Topology",
]


class Dtype(str, Enum):
    """Number formats a chip may compute in (peak FLOP/s are dense, no structured sparsity)."""

    FP32 = "fp32"
    TF32 = "tf32"
    BF16 = "bf16"
    FP16 = "fp16"
    FP8 = "fp8"
    INT8 = "int8"
    FP4 = "fp4"
    INT4 = "int4"


class Topology(str, Enum):
    """Shape of a scale-up domain."""

    SWITCH = "switch"  # all-to-all through a switch (NVSwitch, NVL72, Infinity Fabric full mesh)
    TORUS = "torus"  # TPU ICI 2D/3D torus, Trn2 UltraServer 3D torus
    RING = "ring"  # ring or 2D ring (Trn1 NeuronLink-v2, Inf2)
    MESH = "mesh"  # fully connected point-to-point links (AMD MI300X 8-GPU, Gaudi)
    NONE = "none"  # single device, no scale-up fabric


class NetworkKind(str, Enum):
    """Scale-out network between nodes / domains."""

    INFINIBAND = "infiniband"
    EFA = "efa"
    ROCE = "roce"
    ETHERNET = "ethernet"
    DCN = "dcn"  # Google data-centre network between TPU slices
    NONE = "none"


class Pricing(str, Enum):
    ON_DEMAND = "on_demand"
    CAPACITY_BLOCK = "capacity_block"
    COMMIT_1Y = "commit_1y"
    COMMIT_3Y = "commit_3y"
    SPOT = "spot"


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a value comes from."""

    source: str
    as_of: str
    note: str = ""


# the Efficiency fractions a record may leave unset (None: the field it falls back to)
OPTIONAL_FRACTIONS = ("matmul_fp8", "matmul_fp4", "matmul_serve")


@dataclass(frozen=True, slots=True)
class Efficiency:
    """Achievable fractions of peak, per chip and software stack (model parameters, not specs).

    ``matmul`` is the fraction of dense peak a large, well-shaped GEMM reaches; ``matmul_knee`` is
    the GEMM size (min of M, N, K) at which the achieved fraction falls to half of ``matmul`` —
    small matmuls do not reach peak. ``memory`` is the fraction of peak memory bandwidth that
    streaming (element-wise, decode) kernels reach. ``network`` is the fraction of link bandwidth
    that collectives reach (bus bandwidth / link bandwidth). ``attention`` is the fraction of dense
    peak that fused attention kernels (FlashAttention forward) reach.
    """

    matmul: float = 0.7
    matmul_knee: float = 256.0
    memory: float = 0.8
    network: float = 0.75
    attention: float = 0.5  # fraction of dense peak fused attention kernels reach (FlashAttention)
    matmul_fp8: float | None = None  # large-GEMM fraction of the fp8 peak (None: same as matmul)
    matmul_fp4: float | None = None  # large-GEMM fraction of the fp4 peak (None: as matmul_fp8)
    # the fraction of the served format's peak a serving engine's GEMMs reach (TensorRT-LLM, vLLM,
    # llama.cpp: batched decode steps of a few hundred tokens, TP-sliced weights, fused
    # quantisation), fitted on the chip's compute-bound serving cases (None: the large-GEMM
    # fraction of the format, as training)
    matmul_serve: float | None = None
    provenance: Provenance | None = None

    def __post_init__(self) -> None:
        for name in ("matmul", "memory", "network", "attention"):
            v = getattr(self, name)
            if not 0.0 < v <= 1.0:
                raise ValueError(f"efficiency.{name} must be in (0, 1], got {v}")
        for name in OPTIONAL_FRACTIONS:
            v = getattr(self, name)
            if v is not None and not 0.0 < v <= 1.0:
                raise ValueError(f"efficiency.{name} must be in (0, 1], got {v}")
        if self.matmul_knee < 0:
            raise ValueError("efficiency.matmul_knee must be >= 0")

    def gemm_param(self, dtype: str) -> str:
        """The field that prices a large GEMM in ``dtype``: fp4 GEMMs take ``matmul_fp4`` where
        the record has one, else fp8's; the 8-bit formats (fp8, int8: TPU AQT training, int8
        encoders as in perf/encoder.py) take ``matmul_fp8`` where it has one, else ``matmul``."""
        if dtype == "fp4" and self.matmul_fp4 is not None:
            return "matmul_fp4"
        if dtype in ("fp4", "fp8", "int8") and self.matmul_fp8 is not None:
            return "matmul_fp8"
        return "matmul"


@dataclass(frozen=True, slots=True)
class PowerSpec:
    """A chip's power figure and its standing: published (a vendor's TDP / max power), or an
    estimate with the range it may lie in and what it rests on (``basis``)."""

    tdp_w: float
    estimated: bool
    range_w: tuple[float, float] | None = None
    basis: str = ""


@dataclass(frozen=True, slots=True)
class Interval:
    """An 80% prediction interval as factors on a throughput-like prediction: the measured value
    lies in ``[low, high] × predicted`` for 80% of the cross-validated cases of its class
    (``basis``: the class, e.g. ``nvidia/train``, or ``no-own-case/infer`` for a chip that borrows
    its efficiencies; ``n`` cases). Times scale the other way: ``[1/high, 1/low] × predicted``."""

    low: float
    high: float
    basis: str
    n: int
    level: float = 0.8

    def rate(self, x: float) -> tuple[float, float]:
        """Bounds for a throughput (tokens/s, sequences/s, MFU)."""
        return x * self.low, x * self.high

    def time(self, x: float) -> tuple[float, float]:
        """Bounds for a time or a cost proportional to time (step time, days, USD, latency)."""
        return x / self.high, x / self.low

    def overlaps(self, a: float, b: float) -> bool:
        """Whether the intervals of two time-like predictions ``a`` and ``b`` overlap."""
        lo_a, hi_a = self.time(a)
        lo_b, hi_b = self.time(b)
        return lo_a <= hi_b and lo_b <= hi_a

    def to_dict(self) -> dict[str, Any]:
        keys = ("level", "low", "high", "basis", "n")
        return as_dict(self, *keys, rename={"low": "low_factor", "high": "high_factor"})


@dataclass(frozen=True, slots=True)
class Chip:
    """One accelerator or processor (per chip / package, not per core)."""

    id: str
    name: str
    vendor: str
    category: str  # gpu | tpu | npu | cpu | soc
    training: bool  # sensible to pre-train on (has the fabric and memory for it)
    peak_flops: dict[Dtype, float]  # dense FLOP/s (OP/s for integer formats) per dtype
    mem_bytes: float  # device memory capacity (HBM, LPDDR, DDR), bytes
    mem_bw: float  # peak device memory bandwidth, bytes/s
    sram_bytes: float | None  # on-chip SRAM (L2 / SBUF / CMEM), bytes
    link_bw: float | None  # scale-up bandwidth per chip, one direction, bytes/s
    tdp_w: float | None  # board / package power, W
    efficiency: Efficiency
    source: str
    as_of: str
    aliases: tuple[str, ...] = ()
    notes: str = ""
    provenance: dict[str, Provenance] = field(default_factory=dict)
    power: PowerSpec | None = None  # tdp_w's standing (None: no power figure at all)
    mem_datasheet: str = ""  # the capacity as the vendor prints it, e.g. "80 GB"
    # 80% prediction intervals by task ("train", "infer") from the fit's cross-validation
    intervals: dict[str, Interval] = field(default_factory=dict)
    # the link to its host's memory, one direction, bytes/s (None: not on record): what
    # activations offloaded to host memory move over (perf/train.py _offload_time)
    host_bw: float | None = None

    @property
    def tdp_estimated(self) -> bool:
        """True when ``tdp_w`` is an estimate (no published TDP), not a vendor figure."""
        return self.power is not None and self.power.estimated

    def peak(self, dtype: Dtype | str) -> float | None:
        """Dense peak FLOP/s for ``dtype``, or None if the chip has no such format."""
        return self.peak_flops.get(Dtype(dtype))

    def supports(self, dtype: Dtype | str) -> bool:
        return Dtype(dtype) in self.peak_flops


@dataclass(frozen=True, slots=True)
class ScaleUp:
    """The scale-up domain of a system: chips joined by the fast fabric."""

    topology: Topology
    domain_chips: int  # chips in one domain (8 for an HGX node, 72 for NVL72, 8960 for a v5p pod)
    link_bw: float | None  # per chip, one direction, bytes/s (None: use the chip's)
    torus_dims: tuple[int, ...] = ()  # largest torus shape, e.g. (16, 20, 28) for v5p
    latency_s: float = 5e-6  # per-hop / per-collective-step latency
    # An ICI torus whose slices wrap around: an axis of a slice has its wraparound link when its
    # length is a multiple of this (TPU v4/v5p/v7: 4; v5e/v6e: 16, the full axis). 0: no slice
    # rule, groups get the share of the torus axes they span (perf/machine.py).
    torus_wrap: int = 0


@dataclass(frozen=True, slots=True)
class ScaleOut:
    """The network between scale-up domains."""

    kind: NetworkKind
    bw_per_node: float  # bytes/s per node, one direction (NIC line rate)
    max_chips: int | None  # largest cluster the provider builds of this system (None: unbounded)
    latency_s: float = 10e-6


@dataclass(frozen=True, slots=True)
class System:
    """A purchasable or rentable unit built from one chip type, and the network it sits in."""

    id: str
    name: str
    provider: str  # aws | gcp | nvidia | apple | azure | ...
    kind: str  # instance | ultraserver | pod | server | device
    chip: str  # chip id
    chips_per_node: int
    scale_up: ScaleUp
    scale_out: ScaleOut
    host_w_per_node: float | None  # node power beyond the chips (CPUs, NICs, fans), W
    source: str
    as_of: str
    aliases: tuple[str, ...] = ()
    notes: str = ""
    provenance: dict[str, Provenance] = field(default_factory=dict)
    mem_bytes_per_node: float | None = None  # memory the instance really has (CPU hosts), bytes

    @property
    def mem_bytes_per_chip(self) -> float | None:
        """The instance's memory per chip (socket), where the system record gives it."""
        if self.mem_bytes_per_node is None:
            return None
        return self.mem_bytes_per_node / self.chips_per_node


@dataclass(frozen=True, slots=True)
class Price:
    """One published price for a system."""

    system: str
    pricing: Pricing
    usd_per_node_hour: float
    region: str
    source: str
    as_of: str
    note: str = ""

    def usd_per_chip_hour(self, chips_per_node: int) -> float:
        return self.usd_per_node_hour / chips_per_node


@dataclass(frozen=True, slots=True)
class EnergyDefaults:
    """Facility defaults: power usage effectiveness and where it comes from."""

    pue: float
    source: str
    as_of: str
    note: str = ""

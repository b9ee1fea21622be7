"""The hand-sized model and made-up system the term-by-term tests price (test_train_terms,
test_serve_terms): round numbers so every expected figure can be written out by hand.

The tiny model: L = 4 layers, h = 1024, a = 8 heads of d = 128 (MHA), plain 2-matrix MLP of
f = 4h, V = 32000, RMSNorm (h weights each, 2 per layer), no biases, untied embeddings; a layer holds
4h² (Q, K, V, O) + 8h² (MLP) + 2h (norms) parameters, Narayanan et al. 2021's 12h². The system: a
catalog chip (H100: its peak FLOP/s, memory bandwidth) with round efficiencies (collectives 0.5 of
the link, GEMMs 0.5 of peak at every shape, streaming 0.5 of memory bandwidth, attention 0.25),
switch domains of 8 chips with 100 GB/s links at 1 µs, 400 GB/s of NICs per node at 2 µs.
"""

from __future__ import annotations

from dataclasses import replace

from xpuplan.hardware import Catalog
from xpuplan.hardware.records import Efficiency, NetworkKind, ScaleOut, ScaleUp, Topology
from xpuplan.perf import Machine, PerfParams
from xpuplan.workload.library import model_from_dict
from xpuplan.workload.model import Model

GB = 1e9
US = 1e-6
L, h, a, d, f, V = 4, 1024, 8, 128, 4096, 32000
LAYER = 12 * h * h + 2 * h  # parameters of one layer (4h² attention + 8h² MLP + 2 RMSNorms)
EMB = V * h  # one embedding table (or LM head)

TINY = {
    "id": "tiny",
    "name": "tiny",
    "source": "hand-sized test model",
    "as_of": "2026",
    "layers": L,
    "hidden": h,
    "heads": a,
    "ffn": f,
    "ffn_type": "gelu_mlp",
    "vocab": V,
    "max_seq_len": 8192,
}

# The software constants, spelled out (data/perf.toml may be refitted; these tests pin formulas).
PARAMS = PerfParams(
    tp_overlap=0.7,
    dp_overlap=0.9,
    ep_overlap=0.5,
    grad_comm_bytes=2.0,
    act_bytes=2.0,
    reserved_gib=2.0,
    reserved_fraction=0.06,
    optimizer_bytes_per_param=30.0,
    flash_attention=True,
    power_fraction=0.8,
)
NO_FLASH = replace(PARAMS, flash_attention=False)
EFF = Efficiency(matmul=0.5, matmul_knee=0.0, memory=0.5, network=0.5, attention=0.25)
UP_BW = 100 * GB * 0.5  # achieved scale-up bandwidth per chip
UP_LAT, OUT_LAT = 1 * US, 2 * US


def tiny(**kw: object) -> Model:
    return model_from_dict({**TINY, **kw}, "test")


def machine(
    catalog: Catalog,
    chips: int,
    domain: int = 8,
    topology: Topology = Topology.SWITCH,
    dims: tuple[int, ...] = (),
    node_bw: float = 400 * GB,
    mem_bw: float | None = None,
    mem_bytes: float | None = None,
) -> Machine:
    h100 = catalog.chip("nvidia-h100-sxm")
    chip = replace(
        h100,
        efficiency=EFF,
        mem_bw=mem_bw or h100.mem_bw,
        mem_bytes=mem_bytes or 1e15,  # 1 PB: nothing here is rejected for memory unless asked
    )
    system = replace(
        catalog.system("aws-p5.48xlarge"),
        chips_per_node=domain,
        scale_up=ScaleUp(topology, domain, 100 * GB, dims, latency_s=UP_LAT),
        scale_out=ScaleOut(NetworkKind.EFA, node_bw, None, latency_s=OUT_LAT),
    )
    return Machine(chip, system, chips)


MOE = {"experts": 8, "top_k": 2, "expert_ffn": 1024}

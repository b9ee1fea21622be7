"""What the short notations in the tables mean: the legend line and ``xpuplan explain layout``."""

from __future__ import annotations

import re

from xpuplan.errors import InputError
from xpuplan.layout.layout import not_notation

TRAIN_LEGEND = (
    "layout: TP tensor-, PP pipeline-, DP data-, CP context-, EP expert-parallel degree; vN interleaved "
    "pipeline stages per rank; ZeROn optimizer sharding (FSDP = ZeRO-3); SP sequence parallelism; mbN "
    "sequences per micro-batch; rc- recompute policy. MFU: model FLOPs / peak (PaLM App. B); HFU also "
    'counts recomputed FLOPs. (xpuplan explain layout "TP4 PP1 DP256 CP2 FSDP SP mb1")'
)
SERVE_LEGEND = (
    "layout: N× [TPt PPp ×r batch b fmt] = N replica groups, each r model replicas of TP t × PP p "
    "chips with b sequences in flight, weights in fmt. TTFT time to first token, TPOT time per output "
    "token (target in brackets)."
)

_TOKENS: list[tuple[str, str]] = [
    (r"TP(\d+)", "tensor parallelism: each layer's matrices split over {0} chips (Megatron-LM)"),
    (r"PP(\d+)", "pipeline parallelism: the layers in {0} stages, micro-batches flow through (1F1B)"),
    (r"v(\d+)", "interleaved pipeline: {0} virtual stages per pipeline rank (a smaller bubble)"),
    (r"DP(\d+)", "data parallelism: {0} replicas, each on its share of the global batch"),
    (r"CP(\d+)", "context parallelism: each sequence split over {0} chips (ring attention)"),
    (r"EP(\d+)", "expert parallelism: the MoE experts spread over {0} chips (all-to-all)"),
    (r"ZeRO(\d)", "ZeRO stage {0}: optimizer state (1), + gradients (2), + weights (3) sharded over DP"),
    (r"FSDP", "fully sharded data parallel (ZeRO-3): weights, gradients and optimizer sharded over DP"),
    (r"SP", "sequence parallelism: norms and dropout split along the sequence over the TP group"),
    (r"mb(\d+)", "micro-batch of {0} sequence(s) per pipeline step"),
    (r"rc-(none|selective|full)", "activation recompute: {0} (Korthikanti et al. 2022)"),
    (r"(\d+)×", "{0} replica group(s) rented to carry the request rate"),
    (r"×(\d+)", "{0} model replica(s) in each group"),
    (r"batch", "— followed by the sequences in flight per replica (continuous batching)"),
    (r"(\d+)", "{0} sequences in flight per replica"),
    (r"(bf16|fp16|fp8|int8|int4|fp4|fp32)", "weights stored in {0}"),
]


def explain_layout(text: str) -> list[tuple[str, str]]:
    """Each token of a layout as shown in a table (training or serving) with what it means."""
    tokens = text.replace("[", " ").replace("]", " ").split()
    if not tokens:
        raise InputError("no layout given", 'e.g. xpuplan explain layout "TP4 PP1 DP256 CP2 FSDP SP mb1"')
    out = []
    for tok in tokens:
        for pattern, meaning in _TOKENS:
            m = re.fullmatch(pattern, tok, flags=re.IGNORECASE if pattern.startswith("rc") else 0)
            if m:
                out.append((tok, meaning.format(*m.groups())))
                break
        else:
            raise not_notation(tok)
    return out

"""Real runs on a device: a small GPT-2-style model trained with Adam, and greedy decoding with a KV
cache. Only measured here; the prediction for the same shapes is the planner's
(:mod:`xpuplan.validation.calibration_check`), from the shapes in :func:`xpuplan.calibrate.runs.model_dict`.

The model (Radford et al. 2019, GPT-2): learned positions, pre-LayerNorm, biases on every linear
layer, a GELU MLP of 4·h, causal fused attention (``scaled_dot_product_attention``), the LM head
tied to the token embedding. fp32, or bf16 autocast (bf16 matmuls and attention, fp32 weights
and Adam) for training.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from xpuplan.calibrate.backend import DecodeSpec, TrainSpec

HEAD_DIM = 64


class Block(nn.Module):
    def __init__(self, h: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(h), nn.LayerNorm(h)
        self.qkv, self.proj = nn.Linear(h, 3 * h), nn.Linear(h, h)
        self.fc, self.out = nn.Linear(h, 4 * h), nn.Linear(4 * h, h)

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, t, _ = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        return q, k, v  # each (b, heads, t, d)

    def _finish(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        b, _, t, _ = y.shape
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, -1))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self._split(x)
        return self._finish(x, F.scaled_dot_product_attention(q, k, v, is_causal=True))

    def step(self, x: torch.Tensor, cache: torch.Tensor, pos: int) -> torch.Tensor:
        """One token per sequence at position ``pos``; ``cache`` is (2, b, heads, ctx, d)."""
        q, k, v = self._split(x)
        cache[0, :, :, pos : pos + 1] = k
        cache[1, :, :, pos : pos + 1] = v
        y = F.scaled_dot_product_attention(q, cache[0, :, :, : pos + 1], cache[1, :, :, : pos + 1])
        return self._finish(x, y)


class Gpt(nn.Module):
    def __init__(self, layers: int, h: int, heads: int, vocab: int, ctx: int) -> None:
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, h), nn.Embedding(ctx, h)
        self.blocks = nn.ModuleList(Block(h, heads) for _ in range(layers))
        self.lnf = nn.LayerNorm(h)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        for blk in self.blocks:
            x = blk(x)
        return F.linear(self.lnf(x), self.wte.weight)

    def step(self, tok: torch.Tensor, caches: list[torch.Tensor], pos: int) -> torch.Tensor:
        x = (self.wte(tok) + self.wpe.weight[pos]).unsqueeze(1)
        for blk, cache in zip(self.blocks, caches, strict=True):
            x = blk.step(x, cache, pos)  # type: ignore[operator]
        return F.linear(self.lnf(x[:, -1]), self.wte.weight).argmax(-1)


def _timed(fn: Callable[[], object], sync: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t0


def train_steps(device: str, sync: Callable[[], None], spec: TrainSpec) -> list[float]:
    """Seconds of each timed Adam step of the GPT on ``spec``'s shapes (after warm-up steps)."""
    torch.manual_seed(0)
    model = Gpt(spec.layers, spec.hidden, spec.heads, spec.vocab, spec.seq).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    idx = torch.randint(0, spec.vocab, (spec.batch, spec.seq), device=device)
    tgt = torch.randint(0, spec.vocab, (spec.batch, spec.seq), device=device)

    autocast = torch.autocast(device.split(":")[0], torch.bfloat16, enabled=spec.precision == "bf16")

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with autocast:
            logits = model(idx)
        loss = F.cross_entropy(logits.float().view(-1, spec.vocab), tgt.view(-1))
        loss.backward()
        opt.step()

    for _ in range(spec.warmup):
        _timed(step, sync)
    return [_timed(step, sync) for _ in range(spec.steps)]


def decode_steps(device: str, sync: Callable[[], None], spec: DecodeSpec) -> list[float]:
    """Seconds of each decode step (every sequence of the batch gains one token) after the prompt.

    The prompt is fed token by token through the same loop (it warms the loop up); only the
    ``spec.new`` steps after it are returned, at contexts ``prompt+1 .. prompt+new``."""
    torch.manual_seed(0)
    ctx = spec.prompt + spec.new
    model = Gpt(spec.layers, spec.hidden, spec.heads, spec.vocab, ctx).to(device).eval()
    d = spec.hidden // spec.heads
    caches = [torch.zeros(2, spec.batch, spec.heads, ctx, d, device=device) for _ in range(spec.layers)]
    tok = torch.randint(0, spec.vocab, (spec.batch,), device=device)
    out: list[float] = []
    with torch.no_grad():
        for pos in range(ctx):
            t0 = time.perf_counter()
            tok = model.step(tok, caches, pos)
            sync()
            if pos >= spec.prompt:
                out.append(time.perf_counter() - t0)
    return out

"""The MFU published runs reached, as the packaged fit records them (``data/fit.toml``
``[[published_mfu.CHIP]]``, written by validation/fit.py from the suite's 16-bit full-training
runs), and the check every training search result takes against them (issue 14: a result above
the best published MFU for its chip is flagged, with the term that differs)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from xpuplan.datafiles import data_dir, read_toml

# the search's best MFU may exceed the best comparable published run by 10% before it is flagged
MFU_MARGIN = 1.10


@dataclass(frozen=True)
class PublishedMFU:
    """The MFU a published 16-bit full-training run reached on a chip (PaLM App. B)."""

    mfu: float
    chips: int
    model_params: float
    case: str
    # the model's step of the run's stated layout by term, as shares (CaseResult.shares)
    shares: tuple[tuple[str, float], ...] = ()


@functools.cache
def published_mfu() -> dict[str, list[PublishedMFU]]:
    """``[[published_mfu.CHIP]]`` of the packaged ``fit.toml``, best first; read once per process
    (every ``api.search`` asks, a sweep thousands of times). Callers must not modify it."""
    path = data_dir() / "fit.toml"
    table = read_toml(path).get("published_mfu", {}) if path.exists() else {}
    return {
        chip: [
            PublishedMFU(
                float(r["value"]),
                int(r["chips"]),
                float(r["params"]),
                str(r["case"]),
                tuple((str(k), float(v)) for k, v in (r.get("shares") or {}).items()),
            )
            for r in runs
        ]
        for chip, runs in table.items()
    }


def comparable_mfu(runs: list[PublishedMFU], model_params: float, chips: int) -> PublishedMFU | None:
    """The best published run comparable to a job of ``model_params`` on ``chips``: a model at
    least a quarter its size on at least an eighth its chips (small models on a few chips reach
    MFUs that large jobs do not: shorter communication, no pipeline); None when there is none."""
    ok = [r for r in runs if r.model_params >= model_params / 4 and r.chips >= chips / 8]
    return max(ok, key=lambda r: r.mfu, default=None)


def comparable_job(precision: str, lora_rank: int | None) -> bool:
    """Whether a training job is of the kind the published MFUs are (16-bit full training: the
    suite's ``published_mfu`` runs are bf16/fp16 without LoRA)."""
    return precision in ("bf16", "fp16") and not lora_rank


def mfu_above(
    mfu: float,
    chip_id: str,
    model_params: float,
    chips: int,
    precision: str = "bf16",
    lora_rank: int | None = None,
) -> tuple[PublishedMFU | None, float | None]:
    """The best comparable published MFU on ``chip_id`` (:func:`comparable_mfu`) and, when ``mfu``
    exceeds it by more than :data:`MFU_MARGIN`, how many times it (the figure is likely
    optimistic); (None, None) where no comparable run is on record or the job is not of their
    kind (:func:`comparable_job`)."""
    if not comparable_job(precision, lora_rank):
        return None, None
    ref = comparable_mfu(published_mfu().get(chip_id, []), model_params, chips)
    if ref is None:
        return None, None
    return ref, (mfu / ref.mfu if mfu > MFU_MARGIN * ref.mfu else None)

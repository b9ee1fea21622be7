"""Gaudi 3's fit priors: it borrows Gaudi 2's matmul (the same MME/TPC design) but not its memory
efficiency (two dies with eight HBM2E stacks against Gaudi 2's one die with six): without a case
of its own that takes the npu prior."""

from pathlib import Path

import pytest

from xpuplan.errors import DataError
from xpuplan.hardware.catalog import default_catalog
from xpuplan.validation.fit import ParamFit, Priors, _resolve

G2, G3 = "intel-gaudi2", "intel-gaudi3"


def _gaudi2_fits() -> dict[tuple[str, str], ParamFit]:
    return {
        (G2, "matmul"): ParamFit(G2, "matmul", 0.62, "fitted", ("g2-train",)),
        (G2, "memory"): ParamFit(G2, "memory", 0.80, "fitted", ("g2-infer",)),
    }


def test_gaudi3_does_not_borrow_gaudi2_memory() -> None:
    pri = Priors.load()
    assert pri.no_borrow[G3] == ("memory",)
    r = _resolve(G3, "memory", _gaudi2_fits(), default_catalog(), pri, True)
    # the npu category's memory prior (fit_priors.toml [prior.npu] memory = 0.60), not 0.80
    assert (r.value, r.basis) == (0.60, "prior (npu)")


def test_gaudi3_still_borrows_gaudi2_matmul() -> None:
    r = _resolve(G3, "matmul", _gaudi2_fits(), default_catalog(), Priors.load(), True)
    assert (r.value, r.basis, r.cases) == (0.62, f"borrowed from {G2}", ("g2-train",))


def test_no_borrow_lists_only_fitted_parameters(tmp_path: Path) -> None:
    p = tmp_path / "fit_priors.toml"
    p.write_text('source = "s"\nas_of = "2026-12-02"\n[no_borrow]\n"intel-gaudi3" = ["memroy"]\n')
    with pytest.raises(DataError, match="no_borrow"):
        Priors.load(p)

"""AMD Instinct training cases: the networked MI325X system MangoBoost's 2-node run used, and the
fit's borrowing rule across CDNA generations."""

from xpuplan.hardware.catalog import default_catalog
from xpuplan.perf.estimate import machine
from xpuplan.validation.fit import Priors
from xpuplan.validation.validate import load_suite, predict_train_case

MANGO_16 = "amd-mi325x-train-llama2-70b-lora-16gpu-fp8-mlperft51-mangoboost"


def test_mi325x_server_has_a_network():
    # AS-8126GS-TNMR: 8 x 400 Gb/s NICs = 3,200 Gb/s = 400e9 bytes/s per node, one direction
    m = machine("amd-mi325x", 16, default_catalog(), system="supermicro-as-8126gs-tnmr-mi325x")
    assert m.system.scale_out.bw_per_node == 8 * 400e9 / 8
    assert m.system.chips_per_node == 8


def test_mangoboost_two_node_mi325x_case_is_predicted_on_it():
    case = next(c for c in load_suite() if c["id"] == MANGO_16)
    r = predict_train_case(case, default_catalog(), search_best=False).result
    assert r.predicted is not None, r.reason
    assert r.layout is not None and r.layout.endswith("on supermicro-as-8126gs-tnmr-mi325x")
    assert "CP2" in r.layout


def test_mi355x_does_not_borrow_a_cdna3_fit():
    # MI355X is CDNA 4, MI325X / MI300X CDNA 3: [borrow] pairs only chips of one generation
    assert "amd-mi355x" not in Priors.load().borrow
    assert Priors.load().borrow["amd-mi325x"] == "amd-mi300x"  # same CDNA 3 die

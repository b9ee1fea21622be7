"""Pin the public surface (httpx tests/test_exported_members.py style): one layer, the typed API
(the perf- and search-level functions stay in their modules)."""

import xpuplan

EXPECTED = {
    "CaseResult",
    "Catalog",
    "Chip",
    "ClaimResult",
    "ConfigError",
    "DataError",
    "Economics",
    "EncoderResult",
    "EncoderSearchResult",
    "ErrorStats",
    "GroupErrors",
    "InputError",
    "Layout",
    "Model",
    "Part",
    "PlanResult",
    "PublishedMfu",
    "Reason",
    "ReasonCount",
    "Recompute",
    "Scenario",
    "ServeJob",
    "ServeResult",
    "ServeSearchResult",
    "System",
    "TrainJob",
    "TrainResult",
    "TrainSearchResult",
    "UnknownNameError",
    "ValidationResult",
    "XpuplanError",
    "__version__",
    "check_claim",
    "default_catalog",
    "default_scenario",
    "estimate_serve",
    "estimate_train",
    "get_model",
    "load_catalog",
    "load_hf_config",
    "model_library",
    "plan",
    "search_serve",
    "search_train",
    "validate",
}


def test_all_is_pinned() -> None:
    assert set(xpuplan.__all__) == EXPECTED


def test_every_exported_name_exists() -> None:
    for name in xpuplan.__all__:
        assert hasattr(xpuplan, name), name


def test_the_layers_below_are_not_exported() -> None:
    for name in (
        "estimate",
        "search",
        "evaluate_train",
        "machine",
        "Machine",
        "TrainEstimate",
        "SearchResult",
    ):
        assert name not in xpuplan.__all__, name

"""Pin the public surface (httpx tests/test_exported_members.py style)."""

import xpuplan

EXPECTED = {
    "Catalog",
    "Chip",
    "ConfigError",
    "DataError",
    "InputError",
    "Layout",
    "LayoutArray",
    "Machine",
    "Model",
    "PlanResult",
    "Reason",
    "Recompute",
    "Scenario",
    "SearchResult",
    "SpaceOptions",
    "System",
    "TrainEstimate",
    "TrainJob",
    "UnknownNameError",
    "XpuplanError",
    "__version__",
    "default_catalog",
    "default_scenario",
    "estimate",
    "estimate_train",
    "evaluate_train",
    "get_model",
    "load_catalog",
    "load_hf_config",
    "machine",
    "model_library",
    "parse_recompute",
    "plan",
    "search",
    "search_train",
    "validate",
}


def test_all_is_pinned() -> None:
    assert set(xpuplan.__all__) == EXPECTED


def test_every_exported_name_exists() -> None:
    for name in xpuplan.__all__:
        assert hasattr(xpuplan, name), name

"""Shared fixtures: the packaged catalog and small jobs."""

from __future__ import annotations

import pytest

from xpuplan.hardware import Catalog, default_catalog


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return default_catalog()

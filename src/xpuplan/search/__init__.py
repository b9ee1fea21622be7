"""Exhaustive, vectorised search over parallel layouts."""

from xpuplan.search.space import SpaceOptions, divisors, enumerate_space
from xpuplan.search.train_search import SearchResult, search_train

__all__ = ["SearchResult", "SpaceOptions", "divisors", "enumerate_space", "search_train"]

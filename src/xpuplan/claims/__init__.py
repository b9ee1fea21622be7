"""Claims engine: vendor claims as data, checked against the performance model."""

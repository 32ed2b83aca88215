"""Model implementations used by method adapters and metrics (no import-time side effects)."""

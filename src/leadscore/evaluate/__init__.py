"""Judging a model against what later happened: backtests over the event history and known conversions."""

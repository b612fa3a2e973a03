"""Benchmarks of nmsim (speed) and side-by-side comparisons with peer tools (benchmarks/peers)."""

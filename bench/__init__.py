"""Benchmarks of the SynFoC package: training step, data loading, inference and the GPU run (see bench/README.md)."""

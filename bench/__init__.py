"""Benchmarks: a loopback feed farm (`bench.farm`) and the harness (`bench.run_bench`)."""

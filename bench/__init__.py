"""Benchmarks: `make bench-*`. Each writes JSON under bench/results/ and reports ratios
against a reference measured in the same run, because shared machines are noisy."""

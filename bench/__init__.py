"""Benchmarks for fastreboot (not tests: they measure, they do not judge).

``python3 -m bench.downtime`` (or ``bench/run``) measures reboot downtime in QEMU guests;
see bench/README.md.
"""

"""benchrun: runs state_bench binaries and hands their JSON to the gate.

The gate (perfgate) judges results and never runs anything; this package only
runs benchmarks: a single profile run, a same-run A/B of two builds in paired
rounds (ab.py), the confirmation re-run of flagged benchmarks, instruction
counts under callgrind (instr.py) and the gate's self-test (selftest.py).
"""

"""National-scale data generation and benchmarks (`relais generate`, `relais bench`).

Django-free helpers: `stats` (percentiles, machine description), `http` (load clients on
loopback), `procmem` (RSS of processes). With Django: `writer` (COPY / bulk inserts) and
`dataset` (the generator). See docs/benchmarks.md.
"""

"""The demo territory (`relais demo_data`, served by `relais serve_demo`): orchestration
above every app, imported by nothing but its commands and the benchmark's dataset, which
reuses its fictitious names (relais.demo.builder)."""

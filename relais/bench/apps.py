from django.apps import AppConfig


class BenchConfig(AppConfig):
    """Orchestration above every app: the national dataset and the benchmark commands
    (`relais generate`, `bench`, `bench_fhir`, `bench_indicators`, `bench_materialise`).
    No app imports it; no models."""

    name = "relais.bench"
    label = "bench"
    verbose_name = "Mesures"

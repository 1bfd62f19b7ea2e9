"""Issue 23: a house without circles. The package's own import graph (every import
statement, function-level included; scripts/import_graph.py) has no circle of files, core
imports no app, and the import-linter contracts of pyproject.toml (the rooms of
docs/architecture.md, top to bottom) hold and would catch an app importing an app above it."""

import importlib.util
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _graph():
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts/import_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, module.measure(ROOT)


def _contract(contract_id: str) -> dict:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return next(c for c in config["tool"]["importlinter"]["contracts"] if c["id"] == contract_id)


def test_it_finds_no_circle_of_files():
    _, measured = _graph()
    assert measured["circles"] == []


def test_it_reads_function_level_imports_and_finds_a_circle(tmp_path):
    """The graph would see a circle hidden in a function (the kind Python tolerates)."""
    module, _ = _graph()
    package = tmp_path / "relais"
    (package / "app").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "app" / "__init__.py").write_text("")
    (package / "app" / "services.py").write_text(
        "def f():\n    from relais.app.tasks import t\n    return t\n"
    )
    (package / "app" / "tasks.py").write_text("from . import services\n")
    circles = module.measure(tmp_path)["circles"]
    assert circles == [["relais.app.services", "relais.app.tasks"]]


def test_it_keeps_core_below_every_app():
    """core imports no app (the demo, the bench, the worker commands, the second-factor
    middleware, the home page and FHIR's error body moved out; issue 23, item 1)."""
    _, measured = _graph()
    assert measured["core_up"] == []
    assert not any(line.startswith("relais.core.") for line in _contract("rooms")["ignore_imports"])


def test_it_holds_every_contract():
    from importlinter.cli import lint_imports

    assert lint_imports(config_filename=str(ROOT / "pyproject.toml")) == 0


@pytest.mark.parametrize(
    ("importer", "imported", "kept"),
    [
        ("territory", "orientation", False),  # an app importing an app above it
        ("core", "accounts", False),  # core importing an app
        ("interop", "indicators", False),  # independent siblings
        ("orientation", "agenda", True),  # downward: allowed
    ],
)
def test_it_refuses_an_import_upward_in_the_documented_order(
    tmp_path, monkeypatch, importer, imported, kept
):
    """The same layers, on a throw-away package holding one import."""
    from importlinter.cli import lint_imports

    layers = [layer.replace("relais.", "roomcheck.") for layer in _contract("rooms")["layers"]]
    package = tmp_path / "roomcheck"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for layer in layers:
        for name in layer.replace("(", "").replace(")", "").split("|"):
            room = package / name.strip().removeprefix("roomcheck.")
            room.mkdir(exist_ok=True)
            (room / "__init__.py").write_text("")
    (package / importer / "x.py").write_text(f"from roomcheck.{imported} import y\n")
    (package / imported / "y.py").write_text("")
    config = tmp_path / "layers.toml"
    quoted = ", ".join(f'"{layer}"' for layer in layers)
    config.write_text(
        '[tool.importlinter]\nroot_package = "roomcheck"\n\n'
        '[[tool.importlinter.contracts]]\nname = "rooms"\ntype = "layers"\n'
        f"layers = [{quoted}]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    sys.modules.pop("roomcheck", None)
    assert (lint_imports(config_filename=str(config), no_cache=True) == 0) is kept

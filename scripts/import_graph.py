"""The package's import graph, read from its own source with the standard library (ast):

    .venv/bin/python scripts/import_graph.py            # figures, circles, core -> apps
    .venv/bin/python scripts/import_graph.py --edges    # also every file -> file edge
    .venv/bin/python scripts/import_graph.py --rooms    # also room -> room counts

Every import statement counts, those inside functions included (a deferred import is still
a dependency: it only hides a circle from Python, not from the reader); migrations aside.
An import names a file: `from relais.core.errors import X` -> relais/core/errors.py,
`from relais.regulation import matching` -> relais/regulation/matching/__init__.py (a
submodule wins over a name of the package), relative imports resolved. Imports of anything
outside the package (Django, the standard library) are not edges.

Printed: number of files, of import statements naming a file of the package, of distinct
file -> file edges; circles of files (strongly connected components of more than one file);
imports from relais/core into an app. A room is an app (relais/<app>/), or the top-level
module itself (relais/api.py, relais/urls.py...)."""

import argparse
import ast
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "relais"


def package_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, migrations aside."""
    modules = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        rel = path.relative_to(root)
        if "migrations" in rel.parts:
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def resolve(module: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of a dotted name that is a module of the package."""
    parts = module.split(".")
    while parts:
        name = ".".join(parts)
        if name in modules:
            return name
        parts.pop()
    return None


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int]]:
    """(target module, line) for every import statement of the file naming the package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = name.split(".") if _is_package(path) else name.split(".")[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    target = resolve(alias.name, modules)
                    if target:
                        found.append((target, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base.split(".")[0] != PACKAGE:
                continue
            targets = set()
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in modules:  # `from relais.regulation import matching`
                    targets.add(sub)
                else:
                    target = resolve(base, modules)
                    if target:
                        targets.add(target)
            found.extend((t, node.lineno) for t in sorted(targets))
    return found


def room(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else parts[0]


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit on a large package)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
    return components


def measure(root: Path = ROOT) -> dict:
    modules = package_files(root)
    graph: dict[str, set[str]] = defaultdict(set)
    statements = 0
    lines: dict[tuple[str, str], list[int]] = defaultdict(list)
    for name, path in modules.items():
        graph[name]
        for target, line in imports_of(name, path, modules):
            statements += 1
            if target != name:
                graph[name].add(target)
                lines[(name, target)].append(line)
    edges = sorted((a, b) for a in graph for b in graph[a])
    circles = sorted(
        (c for c in strongly_connected(graph) if len(c) > 1), key=lambda c: (-len(c), c)
    )
    core_up = [
        (a, b, lines[(a, b)])
        for a, b in edges
        if room(a) == f"{PACKAGE}.core" and room(b) not in (f"{PACKAGE}.core",)
    ]
    return {
        "modules": modules,
        "statements": statements,
        "edges": edges,
        "lines": lines,
        "circles": circles,
        "core_up": core_up,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", action="store_true", help="print every file -> file edge")
    parser.add_argument("--rooms", action="store_true", help="print room -> room counts")
    args = parser.parse_args(argv)
    m = measure()

    def file(module: str) -> str:
        return str(m["modules"][module].relative_to(ROOT))

    print(f"files: {len(m['modules'])}")
    print(f"import statements naming a file of the package: {m['statements']}")
    print(f"distinct file -> file imports: {len(m['edges'])}")
    print(f"circles of files (strongly connected, > 1 file): {len(m['circles'])}")
    for circle in m["circles"]:
        print(f"  {len(circle)} files: " + ", ".join(file(x) for x in circle))
    print(f"imports from relais/core into an app: {len(m['core_up'])}")
    for a, b, where in m["core_up"]:
        print(f"  {file(a)}:{','.join(map(str, where))} -> {file(b)}")
    if args.rooms:
        rooms = Counter((room(a), room(b)) for a, b in m["edges"] if room(a) != room(b))
        print("room -> room (distinct file edges):")
        for (a, b), n in sorted(rooms.items()):
            print(f"  {a} -> {b}: {n}")
    if args.edges:
        print("edges:")
        for a, b in m["edges"]:
            print(f"  {file(a)} -> {file(b)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

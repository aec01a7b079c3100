"""No import cycles: a module imports only modules that do not import it back.

The test reads every module under ``app/`` with ``ast`` (it runs none of them) and builds the
graph of imports between them: every import statement counts, at module level or inside a
function (or under ``if TYPE_CHECKING:``), relative imports resolved, ``from pkg import name``
counted as an import of the submodule ``pkg.name`` when there is one (else of ``pkg``). An
import ``a -> b`` is *cyclic* when ``b`` imports ``a`` back, directly or through other
modules: ``a -> b`` lies on a cycle. There must be none in ``app/``.

What keeps it so (issue 14): views and services enqueue jobs by dotted path through
``app/queue.py`` and never import ``app/tasks/`` (whose ``job_context`` imports the app
factory); tasks call services, never the reverse; the configuration imports no service
(``app/signing_keys.py`` reads the license signing key for both).

``python tests/test_import_cycles.py`` prints the cyclic imports of today's tree, each with a
shortest cycle it lies on.
"""

from __future__ import annotations

import ast
import sys
from collections import deque
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

Graph = dict[str, set[str]]


def package_modules(root: Path) -> dict[str, Path]:
    """Every module of the package at ``root``, by dotted name (a package by its ``__init__``)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, modules: dict[str, Path]) -> set[str]:
    """The modules of ``modules`` that one import statement in ``module`` imports."""
    found = set()
    if isinstance(node, ast.Import):
        for alias in node.names:
            name = alias.name
            while name and name not in modules:  # `import a.b.c` where only a.b is ours
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
        return found
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        base = package[: len(package) - node.level + 1]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    for alias in node.names:
        if f"{source}.{alias.name}" in modules:
            found.add(f"{source}.{alias.name}")
        elif source in modules:
            found.add(source)
    return found


def import_graph(root: Path) -> Graph:
    """For each module of the package at ``root``, the package's modules it imports anywhere."""
    modules = package_modules(root)
    graph: Graph = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets |= _imported(node, module, path.name == "__init__.py", modules)
        graph[module] = targets - {module}
    return graph


def _path(graph: Graph, start: str, goal: str) -> list[str] | None:
    """A shortest import chain from ``start`` to ``goal`` (breadth first), or None."""
    previous: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        if current == goal:
            chain = []
            step: str | None = current
            while step is not None:
                chain.append(step)
                step = previous[step]
            return chain[::-1]
        for following in sorted(graph.get(current, ())):
            if following not in previous:
                previous[following] = current
                queue.append(following)
    return None


def cyclic_imports(graph: Graph) -> dict[str, list[str]]:
    """Each import ``"a -> b"`` that lies on a cycle, with a shortest such cycle ``[a, b, ..., a]``."""
    cyclic = {}
    for importer in sorted(graph):
        for imported in sorted(graph[importer]):
            back = _path(graph, imported, importer)
            if back is not None:
                cyclic[f"{importer} -> {imported}"] = [importer, *back]
    return cyclic


def describe(cycles: dict[str, list[str]]) -> str:
    """One line a cyclic import: the list entry, then a cycle it lies on."""
    return "\n".join(f'    "{edge}",  # {" -> ".join(cycle)}' for edge, cycle in sorted(cycles.items()))


def test_the_walker_resolves_every_kind_of_import(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    sources = {
        "__init__.py": "from pkg import a\n",
        "a.py": "import os\n\n\ndef later():\n    from . import b\n",
        "b.py": "from .sub import c\nfrom .sub.c import helper\n",
        "sub/__init__.py": "",
        "sub/c.py": "import pkg.a\n\n\ndef helper():\n    from .. import d\n",
        "d.py": "from pkg.a import later\nfrom pkg import not_a_module\n",
        "e.py": "import pkg.sub.c as c\n",
    }
    for name, source in sources.items():
        (package / name).write_text(source)

    graph = import_graph(package)

    assert graph == {
        "pkg": {"pkg.a"},
        "pkg.a": {"pkg.b"},
        "pkg.b": {"pkg.sub.c"},
        "pkg.sub": set(),
        "pkg.sub.c": {"pkg.a", "pkg.d"},
        "pkg.d": {"pkg.a", "pkg"},
        "pkg.e": {"pkg.sub.c"},
    }
    assert cyclic_imports(graph) == {
        "pkg -> pkg.a": ["pkg", "pkg.a", "pkg.b", "pkg.sub.c", "pkg.d", "pkg"],
        "pkg.a -> pkg.b": ["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"],
        "pkg.b -> pkg.sub.c": ["pkg.b", "pkg.sub.c", "pkg.a", "pkg.b"],
        "pkg.d -> pkg": ["pkg.d", "pkg", "pkg.a", "pkg.b", "pkg.sub.c", "pkg.d"],
        "pkg.d -> pkg.a": ["pkg.d", "pkg.a", "pkg.b", "pkg.sub.c", "pkg.d"],
        "pkg.sub.c -> pkg.a": ["pkg.sub.c", "pkg.a", "pkg.b", "pkg.sub.c"],
        "pkg.sub.c -> pkg.d": ["pkg.sub.c", "pkg.d", "pkg.a", "pkg.b", "pkg.sub.c"],
    }


def test_no_cyclic_import_in_app():
    cycles = cyclic_imports(import_graph(REPO_ROOT / "app"))
    assert not cycles, (
        "import cycles (each import below imports its importer back; a shortest cycle follows):\n" + describe(cycles)
    )


if __name__ == "__main__":
    sys.stdout.write(describe(cyclic_imports(import_graph(REPO_ROOT / "app"))) + "\n")

"""The README's "What is where" table, made from the code so that it stays true.

One row per blueprint module (app/blueprints/...): the module, the URLs its views answer
(from `app.url_map`; methods other than GET are named), the first paragraph of its docstring,
and the services and integrations it imports. `flask routes-table` prints the table;
`flask routes-table --write README.md` puts it in place of the one under "## What is where".
tests/test_routes_table.py fails when README.md's table differs from this one.
"""

import ast
import re
import sys
from collections import defaultdict
from pathlib import Path

HEADING = "## What is where"
HEADER = "| code | pages and APIs | what it is | services it calls |\n|---|---|---|---|"
APP_ROOT = Path(__file__).resolve().parent
_CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")  # <int:gig_id> -> <gig_id>
_LAYERS = ("app.services", "app.integrations")


def routes_table(app):
    """The table for `app` (Markdown, header included)."""
    urls = defaultdict(dict)  # module -> {rule: methods}, in the order rules were registered
    for rule in app.url_map.iter_rules():
        module = app.view_functions[rule.endpoint].__module__
        if not module.startswith("app.blueprints."):
            continue
        methods = urls[module].setdefault(_CONVERTER.sub(r"<\1>", rule.rule), set())
        methods.update(rule.methods - {"HEAD", "OPTIONS"})
    rows = [HEADER]
    for module in sorted(urls):
        source = sys.modules[module]
        path = Path(source.__file__).relative_to(APP_ROOT).as_posix()
        pages = ", ".join(_url(rule, methods) for rule, methods in urls[module].items())
        calls = ", ".join(f"`{name}`" for name in _layer_imports(Path(source.__file__)))
        rows.append(f"| `{path}` | {pages} | {_summary(source.__doc__)} | {calls} |")
    return "\n".join(rows) + "\n"


def replace_table(readme, table):
    """`readme` with the table under HEADING replaced by `table`."""
    start = readme.index(HEADER.split("\n")[0], readme.index(HEADING))
    end = start
    for line in readme[start:].splitlines(keepends=True):
        if not line.startswith("|"):
            break
        end += len(line)
    return readme[:start] + table + readme[end:]


def table_in(readme):
    """The table under HEADING in `readme`, as written."""
    start = readme.index("|", readme.index(HEADING))
    lines = []
    for line in readme[start:].splitlines(keepends=True):
        if not line.startswith("|"):
            break
        lines.append(line)
    return "".join(lines)


def _url(rule, methods):
    named = sorted(methods - {"GET"})
    if not named:
        return f"`{rule}`"
    return f"`{' '.join(sorted(methods))} {rule}`"


def _summary(docstring):
    """The docstring's first paragraph on one line, safe inside a table cell."""
    paragraph = (docstring or "").strip().split("\n\n")[0]
    return " ".join(paragraph.split()).replace("|", "\\|")


def _layer_imports(path):
    """services/… and integrations/… modules the file imports, as paths under app/
    (`from app.services.licensing import issuing` names services/licensing/issuing.py)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(_LAYERS):
            for alias in node.names:
                submodule = _module_file(f"{node.module}.{alias.name}")
                found.add(submodule or _module_file(node.module))
        elif isinstance(node, ast.Import):
            found.update(_module_file(alias.name) for alias in node.names if alias.name.startswith(_LAYERS))
    return sorted(name for name in found if name is not None)


def _module_file(dotted):
    """The file of module `dotted` ("app.services.orders") as a path under app/, or None."""
    base = APP_ROOT.parent.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate.relative_to(APP_ROOT).as_posix()
    return None

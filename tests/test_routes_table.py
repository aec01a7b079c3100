"""README.md's "What is where" table is the one the code makes (app/routes_table.py)."""

from pathlib import Path

from app.routes_table import HEADER, replace_table, routes_table, table_in

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_table_is_the_one_the_code_makes(app):
    assert table_in(README.read_text(encoding="utf-8")) == routes_table(app), (
        'README.md\'s "What is where" table is out of date: run `flask routes-table --write README.md`'
    )


def test_every_blueprint_url_has_a_row_with_its_module_and_methods(app):
    table = routes_table(app)
    assert table.startswith(HEADER)
    assert "| `blueprints/sell/gigs.py` | `/sell/gigs`, `GET POST /sell/gigs/new`," in table
    assert "`POST /api/v1/licenses/validate`" in table and "`services/licensing/public_api.py`" in table
    assert "/static/" not in table  # only blueprint modules have rows
    modules = {
        app.view_functions[rule.endpoint].__module__ for rule in app.url_map.iter_rules() if rule.endpoint != "static"
    }
    assert len(table.splitlines()[2:]) == len(modules)


def test_writing_the_table_replaces_only_the_table(app):
    readme = f"# Title\n\n## What is where\n\nIntro.\n\n{HEADER}\n| old | row | here | x |\n\nAfter.\n"
    written = replace_table(readme, routes_table(app))
    assert written.startswith("# Title\n\n## What is where\n\nIntro.\n\n" + HEADER)
    assert "| old | row |" not in written and written.endswith("\n\nAfter.\n")
    assert table_in(written) == routes_table(app)


def test_the_cli_prints_the_table(app):
    result = app.test_cli_runner().invoke(args=["routes-table"])
    assert result.exit_code == 0 and result.output == routes_table(app)

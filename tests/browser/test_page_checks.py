"""The page checker catches what it promises to: each defect planted on a real page of ours
makes `check()` fail and name it, and the clean page passes."""

from __future__ import annotations

import pytest

PLANT = {
    "wide block": """() => { const d = document.createElement("div"); d.id = "planted-wide";
        d.textContent = "wide"; d.style.width = "600px"; document.querySelector("main").append(d); }""",
    "fixed box past the edge": """() => { const d = document.createElement("div"); d.id = "planted-fixed";
        d.textContent = "fixed"; Object.assign(d.style, {position: "fixed", top: "0", left: "300px", width: "200px"});
        document.body.append(d); }""",
    "sideways scroller": """() => { const d = document.createElement("div"); d.id = "planted-scroller";
        d.style.overflowX = "auto"; const inner = document.createElement("div"); inner.style.width = "2000px";
        inner.textContent = "wide content"; d.append(inner); document.querySelector("main").append(d); }""",
    "inline style attribute": """() => { document.querySelector("main").insertAdjacentHTML("beforeend",
        '<p style="color: red">inline</p>'); }""",
    "console error": """() => console.error("planted console error")""",
    "card image of the wrong shape": """() => { const img = document.querySelector("img.gig-media-card");
        img.id = "planted-strip"; img.style.height = "600px"; }""",
    "nameless button": """() => { const b = document.createElement("button"); b.id = "planted-button";
        document.querySelector("main").append(b); }""",
}
EXPECTED = {
    "wide block": r"at 390px the page is \d+px wide .*div#planted-wide",
    "fixed box past the edge": r"at 390px .*div#planted-fixed \"fixed\" 200px wide, x 300…500",
    "sideways scroller": r"at 1280px div#planted-scroller .*scrolls sideways",
    "inline style attribute": r"CSP violation: .*style-src-attr",
    "console error": r"console error: planted console error",
    "card image of the wrong shape": r"at 1280px img#planted-strip.gig-media.gig-media-card is \d+×600, not 16:10",
    "nameless button": r"axe critical button-name",
}


@pytest.mark.parametrize("defect", list(PLANT))
def test_checker_names_a_planted_defect(people, tmp_path, defect):
    person = people("Checker")
    person.checks.artifacts = tmp_path  # its failure screenshots are expected: keep them apart
    (tmp_path / "failures").mkdir()
    person.visit("/", "home page, clean")
    person.page.evaluate(PLANT[defect])
    with pytest.raises(AssertionError, match=EXPECTED[defect]):
        person.check(f"home page with a {defect}")
    assert list((tmp_path / "failures").glob("FAILED-*.png")), "no failure screenshot was kept"


def test_checker_allows_a_table_wrapper_to_scroll(people):
    person = people("Checker")
    person.visit("/", "home page, clean")
    person.page.evaluate("""() => { const d = document.createElement("div"); d.className = "table-scroll";
        const t = document.createElement("table"); t.style.width = "2000px";
        t.innerHTML = "<tr><th scope='col'>Wide</th></tr><tr><td><a href='/'>table</a></td></tr>"; d.append(t);
        document.querySelector("main").append(d); }""")
    person.check("home page with a scrolling table wrapper")


def test_log_check_finds_5xx_answers_and_tracebacks(tmp_path):
    from .stack import Stack

    logs = Stack(tmp_path)
    try:
        (tmp_path / "logs" / "web.log").write_text(
            'access 200 "GET / HTTP/1.1" 3ms\naccess 404 "GET /nope HTTP/1.1" 2ms\n'
        )
        (tmp_path / "logs" / "worker.log").write_text("12:00:00 default: Job OK (1)\n")
        assert logs.log_errors() == []
        start = logs.log_sizes()
        with open(tmp_path / "logs" / "web.log", "a") as web:
            web.write('access 500 "POST /sell/products/new HTTP/1.1" 9ms\n')
        with open(tmp_path / "logs" / "worker.log", "a") as worker:
            worker.write('Traceback (most recent call last):\n  File "job.py"\nValueError: boom\n')
        problems = logs.log_errors(start)
        assert problems[0] == "web: 500 POST /sell/products/new HTTP/1.1"
        assert problems[1].startswith("worker: traceback:") and "ValueError: boom" in problems[1]
    finally:
        logs.stop()

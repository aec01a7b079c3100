"""The page checker every journey runs on every page it visits.

`PageChecks(page, ...)` listens to the page from the start (console errors, uncaught
exceptions, Content-Security-Policy violations). `check(label, screenshot=None)` then looks at
the page at 1280×800 and at 390×844:

- no horizontal overflow: the document is no wider than the viewport, no visible element
  sticks out past its edge (position: fixed ones included, which never widen the document),
  and no box scrolls sideways unless it is meant to (a table or code wrapper, see
  SIDEWAYS_SCROLLERS); the failure names the widest offenders;
- boxes keep their shape: one the stylesheet gives an aspect-ratio has it, and a picture
  drawn with object-fit: fill is not stretched;
- no console errors, page errors or CSP violations since the last check;
- no serious or critical axe-core violations (axe.min.js vendored under vendor/).

A failure keeps a full-page screenshot under the artifacts directory; `screenshot=NAME`
always saves NAME-1280.png and NAME-390.png there (the whole page, or the viewport with
`full_page=False`, which shows an overlay such as the checkout drawer as a person sees it).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

VENDOR = Path(__file__).resolve().parent / "vendor"
AXE_SOURCE = (VENDOR / "axe.min.js").read_text()
# Served to the page from its own origin (intercepted, never reaching the app), so the
# script tag obeys `script-src 'self'` like any of our scripts: the CSP stays on.
AXE_PATH = "/__browser-tests__/axe.min.js"

WIDTHS = ((1280, 800), (390, 844))
SERIOUS = ("serious", "critical")
# Boxes designed to scroll sideways on a narrow screen (wide tables, code samples).
SIDEWAYS_SCROLLERS = "pre, .table-scroll, .lic-code, [data-scroll-x]"

# Reports `securitypolicyviolation` events to Python (bindings survive navigations).
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.__tpReportCsp && window.__tpReportCsp({
    directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile,
    line: e.lineNumber, sample: e.sample, page: location.href,
  });
});
"""

OVERFLOW_JS = """
(allowed) => {
  const root = document.documentElement;
  const vw = root.clientWidth;
  const describe = (el) => {
    let name = el.tagName.toLowerCase();
    if (el.id) name += "#" + el.id;
    const classes = [...el.classList].slice(0, 3);
    if (classes.length) name += "." + classes.join(".");
    const text = String(el.innerText || el.value || el.getAttribute("aria-label") || "").trim().replace(/\\s+/g, " ");
    return text ? `${name} "${text.slice(0, 40)}"` : name;
  };
  const visible = (el, rect) => {
    if (rect.width <= 1 || rect.height <= 1) return false;
    const style = getComputedStyle(el);
    return style.visibility !== "hidden" && style.display !== "none";
  };
  // Clipped by an ancestor box (overflow other than visible): that box is checked instead.
  const clippedInside = (el) => {
    for (let a = el.parentElement; a && a !== document.body && a !== root; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== "visible") return true;
    }
    return false;
  };
  const sticking = [], scrolling = [], misshapen = [];
  const ratioOff = (want, rect) => Math.abs(rect.width / rect.height - want) / want > 0.03;
  for (const el of document.body.querySelectorAll("*")) {
    const rect = el.getBoundingClientRect();
    if (!visible(el, rect)) continue;
    // A box whose stylesheet gives it an aspect-ratio must have it (height= attributes beat
    // aspect-ratio unless height is auto: the tall-strip card images), and a picture drawn
    // with object-fit: fill must keep its own shape.
    const declared = getComputedStyle(el).aspectRatio.match(/^([\\d.]+)\\s*\\/\\s*([\\d.]+)$/);
    if (declared && ratioOff(declared[1] / declared[2], rect)) {
      misshapen.push(`${describe(el)} is ${Math.round(rect.width)}×${Math.round(rect.height)}, not ${declared[1]}:${declared[2]}`);
    } else if (el.tagName === "IMG" && el.naturalWidth && getComputedStyle(el).objectFit === "fill"
               && ratioOff(el.naturalWidth / el.naturalHeight, rect)) {
      misshapen.push(`${describe(el)} is drawn ${Math.round(rect.width)}×${Math.round(rect.height)} from a ${el.naturalWidth}×${el.naturalHeight} picture`);
    }
    if (rect.left >= vw) continue;  // wholly off-canvas (a closed drawer), not overflow
    if ((rect.right > vw + 0.5 || rect.left < -0.5) && !clippedInside(el)) {
      sticking.push({el, what: describe(el), width: Math.round(rect.width), left: Math.round(rect.left), right: Math.round(rect.right)});
    }
    const style = getComputedStyle(el);
    if (["auto", "scroll"].includes(style.overflowX) && el.scrollWidth > el.clientWidth + 1
        && !el.matches(allowed) && !["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName)) {
      scrolling.push({what: describe(el), width: el.clientWidth, content: el.scrollWidth});
    }
  }
  // The innermost offenders (none of their descendants sticks out) are usually the cause.
  const innermost = sticking.filter((o) => !sticking.some((p) => p !== o && o.el.contains(p.el)));
  const plain = (list) => list.slice(0, 4).map(({el, ...rest}) => rest);
  sticking.sort((a, b) => b.width - a.width);
  return {viewport: vw, document: root.scrollWidth, sticking: plain(sticking), innermost: plain(innermost),
          scrolling: scrolling.slice(0, 6), misshapen: misshapen.slice(0, 24)};
}
"""

AXE_RUN = """
async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 4).map((n) => n.target.join(" ") + (n.failureSummary ? " — " + n.failureSummary.split("\\n").slice(1, 2).join("") : "")),
  }));
}
"""

# Wait (bounded) for the page's eager images and finite animations (a drawer sliding in),
# so layout and screenshots are final.
SETTLED = """
() => Promise.race([
  Promise.all([
    ...[...document.images].filter((i) => i.loading !== "lazy" && !i.complete)
      .map((i) => new Promise((ok) => { i.addEventListener("load", ok); i.addEventListener("error", ok); })),
    ...document.getAnimations().filter((a) => a.effect && a.effect.getComputedTiming().iterations !== Infinity)
      .map((a) => a.finished.catch(() => null)),
  ]),
  new Promise((ok) => setTimeout(ok, 3000)),
])
"""


def screenshot_to(page, path: Path, full_page: bool = True):
    """A screenshot that leaves the page as it was: Playwright's default caret hiding leaves
    an empty style="" on every input, which htmx then copies on its next swap — and the CSP
    rightly refuses that inline style."""
    page.screenshot(path=path, full_page=full_page, caret="initial")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80] or "page"


class PageChecks:
    """Watches one page; `check()` asserts it is clean at both widths."""

    def __init__(self, page, *, base_url: str, artifacts: Path, owner: str):
        self.page = page
        self.base_url = base_url
        self.artifacts = Path(artifacts)
        self.owner = owner
        self.problems: list[str] = []  # console / page errors / CSP, since the last check
        self.checked = 0
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self._note(f"uncaught exception: {error}"))

    def _ours(self) -> bool:
        return self.page.url.startswith(self.base_url)

    def _note(self, problem: str):
        if self._ours():
            self.problems.append(f"{problem} (on {self.page.url})")

    def _on_console(self, message):
        text = message.text
        own = message.location.get("url", "").split("#")[0] == self.page.url.split("#")[0]
        if text.startswith("Failed to load resource") and own:
            return  # the page's own status (a 404 page, a 422 form), not a broken resource
        if message.type == "error" or "Content Security Policy" in text:
            self._note(f"console {message.type}: {text}")

    def on_csp_violation(self, report: dict):
        if report.get("page", "").startswith(self.base_url):
            self.problems.append("CSP violation: " + json.dumps(report, sort_keys=True))

    # -- the check --------------------------------------------------------------------

    def check(self, label: str, screenshot: str | None = None, full_page: bool = True):
        """Assert the current page is clean at 1280 and 390 px wide; see the module doc."""
        __tracebackhide__ = True
        page = self.page
        assert self._ours(), f"{label}: the checker is for our pages, not {page.url}"
        self.checked += 1
        found: list[str] = []
        original = page.viewport_size
        try:
            for width, height in WIDTHS:
                page.set_viewport_size({"width": width, "height": height})
                page.evaluate(SETTLED)
                found += self._overflow(width)
                found += self._axe(width)
                if screenshot:
                    screenshot_to(page, self.artifacts / "screens" / f"{screenshot}-{width}.png", full_page)
                if found:
                    name = f"FAILED-{self.owner}-{self.checked:02d}-{_slug(label)}-{width}.png"
                    screenshot_to(page, self.artifacts / "failures" / name)
        finally:
            page.set_viewport_size(original)
        if self.problems and not found:  # console / CSP problems only: one screenshot as it is
            screenshot_to(
                page, self.artifacts / "failures" / f"FAILED-{self.owner}-{self.checked:02d}-{_slug(label)}.png"
            )
        found += self.problems
        self.problems = []
        if found:
            raise AssertionError(f"page check failed: {label} ({page.url}):\n  - " + "\n  - ".join(found))

    def _overflow(self, width: int) -> list[str]:
        result = self.page.evaluate(OVERFLOW_JS, SIDEWAYS_SCROLLERS)
        problems = []
        if result["document"] > result["viewport"] or result["sticking"]:

            def listed(offenders):
                return (
                    "; ".join(f"{o['what']} {o['width']}px wide, x {o['left']}…{o['right']}" for o in offenders)
                    or "none found"
                )

            problems.append(
                f"at {width}px the page is {result['document']}px wide for a "
                f"{result['viewport']}px viewport; widest offenders: {listed(result['sticking'])}; "
                f"innermost: {listed(result['innermost'])}"
            )
        shapes = {what: result["misshapen"].count(what) for what in result["misshapen"]}
        problems += [f"at {width}px {what}" + (f" (×{n})" if n > 1 else "") for what, n in shapes.items()]
        for box in result["scrolling"]:
            problems.append(
                f"at {width}px {box['what']} scrolls sideways: {box['content']}px of content in {box['width']}px"
            )
        return problems

    def _axe(self, width: int) -> list[str]:
        if not self.page.evaluate("typeof window.axe !== 'undefined'"):
            self.page.add_script_tag(url=AXE_PATH)
        violations = self.page.evaluate(AXE_RUN)
        return [
            f"at {width}px axe {v['impact']} {v['id']}: {v['help']} — {'; '.join(v['nodes'])}"
            for v in violations
            if v["impact"] in SERIOUS
        ]

    def assert_quiet(self, label: str = "end of test"):
        """No console errors or CSP violations left unreported (e.g. after the last check)."""
        __tracebackhide__ = True
        problems, self.problems = self.problems, []
        assert not problems, f"{label}:\n  - " + "\n  - ".join(problems)

"""axe-core (vendored, tests/browser/vendor/) run inside a Playwright page."""

from __future__ import annotations

from pathlib import Path

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
BLOCKING = ("serious", "critical")


def violations(tab, *, impacts=BLOCKING) -> list[dict]:
    """The page's axe violations of the given impacts (WCAG 2.x A and AA rules and axe's best practices)."""
    if not tab.evaluate("typeof window.axe !== 'undefined'"):
        tab.add_script_tag(path=str(AXE))
    found = tab.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [v for v in found if v["impact"] in impacts]


def report(found: list[dict]) -> str:
    """One line per violation and offending node, readable in a failed assertion."""
    lines = []
    for v in found:
        for node in v["nodes"]:
            lines.append(f"{v['impact']} {v['id']}: {v['help']} at {' '.join(map(str, node['target']))}")
            if node.get("failureSummary"):
                lines.append("    " + node["failureSummary"].replace("\n", "\n    "))
    return "\n".join(lines)

"""Status badges: shields.io-style SVGs ("Acme | All Systems Operational") for READMEs and dashboards.

Drawn from a published summary.json (the version's own, see publishing.render_lazy), so a badge always says
what the API says. Text width is estimated from Verdana's advance widths at 11px, as shields.io does; no
font is loaded. Everything written into the SVG is XML-escaped.
"""

from __future__ import annotations

import re
from html import escape

STYLES = ("flat", "flat-square")

GREEN, YELLOW, ORANGE, RED, BLUE, GREY = "#4c1", "#dfb317", "#fe7d37", "#e05d44", "#007ec6", "#9f9f9f"

# The page indicator (summary.json `status.indicator`) and a component status, to a colour. Shields' palette
# rather than Statuspage's widget colours: white text stays readable on these.
INDICATOR_COLOURS = {"none": GREEN, "minor": YELLOW, "major": ORANGE, "critical": RED, "maintenance": BLUE}
COMPONENT_COLOURS = {
    "operational": GREEN,
    "degraded_performance": YELLOW,
    "partial_outage": ORANGE,
    "major_outage": RED,
    "under_maintenance": BLUE,
}

# Verdana 11px advance widths for printable ASCII (space to ~); anything else counts as WIDE.
_WIDTHS = dict(
    zip(
        (chr(c) for c in range(32, 127)),
        (
            3.87, 4.33, 5.05, 9.0, 6.99, 11.84, 7.99, 2.95, 4.99, 4.99, 6.99, 9.0, 4.0, 4.99, 4.0, 4.99,
            6.99, 6.99, 6.99, 6.99, 6.99, 6.99, 6.99, 6.99, 6.99, 6.99, 4.99, 4.99, 9.0, 9.0, 9.0, 6.0,
            11.0, 7.52, 7.54, 7.68, 8.48, 6.96, 6.32, 8.53, 8.27, 4.63, 5.0, 7.62, 6.12, 9.27, 8.23, 8.66,
            6.63, 8.66, 7.65, 7.52, 6.78, 8.05, 7.52, 10.87, 7.54, 6.77, 7.54, 4.99, 4.99, 4.99, 9.0, 6.99,
            6.99, 6.61, 6.85, 5.73, 6.85, 6.55, 3.87, 6.85, 6.96, 3.02, 3.79, 6.51, 3.02, 10.7, 6.96, 6.68,
            6.85, 6.85, 4.69, 5.73, 4.33, 6.96, 6.51, 8.99, 6.51, 6.51, 5.78, 6.98, 4.99, 6.98, 9.0,
        ),
        strict=True,
    )
)  # fmt: skip
WIDE = 11.0
PADDING = 5  # each side of a text
MAX_CHARS = 80

# XML 1.0 forbids most control characters even as references; a name holding one would break the badge.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def text_width(text: str) -> float:
    return sum(_WIDTHS.get(ch, WIDE) for ch in text)


def _clean(text: str) -> str:
    text = " ".join(_NOT_XML.sub("", text).split())
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


def render(label: str, message: str, colour: str, *, style: str = "flat") -> str:
    """One two-part badge: `label` on grey, `message` on `colour`."""
    label, message = _clean(label) or "status", _clean(message)
    label_w = round(text_width(label)) + 2 * PADDING
    message_w = round(text_width(message)) + 2 * PADDING
    width = label_w + message_w
    # Text is drawn at ten times the size and scaled down, as shields.io does, for sub-pixel placement.
    label_x, message_x = label_w * 5, (label_w + message_w / 2) * 10
    label_len, message_len = (label_w - 2 * PADDING) * 10, (message_w - 2 * PADDING) * 10
    title = escape(f"{label}: {message}")
    lab, msg = escape(label), escape(message)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" '
        f'aria-label="{title}"><title>{title}</title>'
    )
    text_attrs = (
        'fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" '
        'text-rendering="geometricPrecision" font-size="110"'
    )
    if style == "flat-square":
        return (
            f'{head}<g shape-rendering="crispEdges"><rect width="{label_w}" height="20" fill="#555"/>'
            f'<rect x="{label_w}" width="{message_w}" height="20" fill="{colour}"/></g>'
            f"<g {text_attrs}>"
            f'<text x="{label_x:g}" y="140" transform="scale(.1)" textLength="{label_len}">{lab}</text>'
            f'<text x="{message_x:g}" y="140" transform="scale(.1)" textLength="{message_len}">{msg}</text>'
            "</g></svg>"
        )

    def shadowed(x: float, length: int, text: str) -> str:
        return (
            f'<text aria-hidden="true" x="{x:g}" y="150" fill="#010101" fill-opacity=".3" '
            f'transform="scale(.1)" textLength="{length}">{text}</text>'
            f'<text x="{x:g}" y="140" transform="scale(.1)" textLength="{length}">{text}</text>'
        )

    return (
        f'{head}<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" '
        'stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{width}" height="20" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{label_w}" height="20" fill="#555"/>'
        f'<rect x="{label_w}" width="{message_w}" height="20" fill="{colour}"/>'
        f'<rect width="{width}" height="20" fill="url(#s)"/></g>'
        f"<g {text_attrs}>{shadowed(label_x, label_len, lab)}{shadowed(message_x, message_len, msg)}</g>"
        "</svg>"
    )


def page_badge(summary: dict, *, style: str = "flat") -> str:
    """The page's name and its rollup description ("All Systems Operational"), coloured by indicator."""
    status = summary["status"]
    return render(
        summary["page"]["name"],
        status["description"],
        INDICATOR_COLOURS.get(status["indicator"], GREY),
        style=style,
    )


def component_badge(summary: dict, code: str, *, style: str = "flat") -> str | None:
    """A public component's (or group's) name and status ("partial outage"); None if the page shows no
    component with that id (hidden components are not in summary.json)."""
    component = next((c for c in summary["components"] if c["id"] == code), None)
    if component is None:
        return None
    status = component["status"]
    return render(
        component["name"], status.replace("_", " "), COMPONENT_COLOURS.get(status, GREY), style=style
    )

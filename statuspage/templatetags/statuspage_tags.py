from __future__ import annotations

from datetime import datetime

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString
from django.utils.timesince import timesince

from components.models import ComponentStatus
from statuspage.markdown import render_markdown

register = template.Library()

STATUS_LABELS = dict(ComponentStatus.choices)


@register.filter
def markdown(text: str) -> SafeString:
    return render_markdown(text)


@register.filter
def component_status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


@register.filter
def percent(value: float | None) -> str:
    """Uptime as people read it: 100%, 99.98%, 97.3% (never 100% while any downtime was counted)."""
    if value is None:
        return "No data"
    if value >= 100:
        return "100%"
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{'99.99' if text == '100' else text}%"


@register.filter
def duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


@register.filter
def ago(moment: datetime | None, now: datetime) -> str:
    """ "just now" under a minute, else Django's "3 minutes ago" wording."""
    if moment is None:
        return ""
    if (now - moment).total_seconds() < 60:
        return "just now"
    return f"{timesince(moment, now)} ago"


@register.filter
def dictget(mapping: dict, key: str):
    """{{ counts|dictget:"active" }}: a dict lookup by a variable key; 0 when absent."""
    return (mapping or {}).get(key, 0)


# --- Uptime bars ----------------------------------------------------------------------------------

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_OPERATIONAL = ComponentStatus.OPERATIONAL.value
_DAY_LINES = (
    (ComponentStatus.MAJOR_OUTAGE.value, "Major outage"),
    (ComponentStatus.PARTIAL_OUTAGE.value, "Partial outage"),
    (ComponentStatus.DEGRADED_PERFORMANCE.value, "Degraded"),
    (ComponentStatus.UNDER_MAINTENANCE.value, "Maintenance"),
)


@register.simple_tag
def uptime_bars(uptime) -> SafeString:
    """One component's day bars (components.selectors.Uptime), each with its tooltip: the date, the
    uptime, the time in each non-operational status and the incidents of that day, as markup, so every fact
    is there with JavaScript off (CSS shows it on hover and focus).

    Built here rather than in the template: a page shows 90 bars a component, and at 500 components the
    template engine spent about 90% of a publish on them (bench/scale.py). And kept short, since the bars
    are most of the page's bytes (158 KB of the demo page's 172 KB when a bar took 174 bytes): an
    operational day is a bare ``<li>`` of about 60 bytes holding its date and its uptime; any other day
    names its worst status (or ``none``: no data) in its class. The list's place (``[data-bars] > li``)
    says what a bar and its tooltip are, so neither needs a class or a data attribute of its own. No bar
    is a tab stop of its own: static/js/public.js makes each row one (arrow keys move between days), where
    90 stops a component would make the page impassable by keyboard; without JavaScript a screen reader
    still reads every tooltip in the list."""
    out = []
    for day in uptime.days:
        worst = day.worst or "none"
        d = day.date
        out.append("<li><span>" if worst == _OPERATIONAL else f'<li class="bar--{worst}"><span>')
        out.append(f"<b>{_MONTHS[d.month - 1]} {d.day}, {d.year}</b> ")
        if day.has_data:
            out.append(f"<small>{percent(day.uptime)} uptime</small>")
            seconds = day.seconds
            for status, label in _DAY_LINES:
                if seconds.get(status):
                    out.append(
                        f'<span class="tip__line"><span class="dot dot--{status}" aria-hidden="true"></span>'
                        f"{label} {duration(seconds[status])}</span>"
                    )
            out.extend(f'<span class="tip__incident">{escape(i.name)}</span>' for i in day.incidents)
        else:
            out.append("No data")
        out.append("</span></li>")
    return SafeString("".join(out))

from __future__ import annotations

from datetime import datetime

from django import template
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

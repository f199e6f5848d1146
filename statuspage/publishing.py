"""Rendering on write (DESIGN.md road 2).

After every command the page's public documents are rendered once and stored as its snapshot; a public
request is then answered from the snapshot with no database query. The documents that change with every
write (the page, its live fragment, the feeds, open and recent incidents) are rendered eagerly; documents of
old history (an incident of last year, page 7 of the history) are rendered on first request and kept for the
rest of that version. Rendering costs a fixed number of queries, whatever the length of history.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import groupby

from django.conf import settings
from django.db.models import OuterRef, Subquery
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.feedgenerator import Atom1Feed, Rss201rev2Feed
from django.utils.html import escape

from components import selectors as component_selectors
from incidents import selectors as incident_selectors
from incidents.models import CLOSED_STATUSES, IMPACT_RANK, Incident
from statuspage import serializers, snapshots
from statuspage.markdown import render_markdown
from statuspage.models import AuditEvent, Page
from statuspage.snapshots import Document

log = logging.getLogger(__name__)

HTML = "text/html; charset=utf-8"
JSON = "application/json"
PAST_DAYS = 14
UPTIME_DAYS = 90
HISTORY_MONTHS_PER_PAGE = 3
FEED_ITEMS = 25

# Descriptions when an open incident raises the indicator above what components say.
RAISED = {
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
}
INDICATOR_RANK = {"none": 0, "maintenance": 0, "minor": 1, "major": 2, "critical": 3}


@dataclass(frozen=True)
class Status:
    indicator: str  # none | minor | major | critical | maintenance
    description: str


def page_status(
    component_statuses: list[str], open_incidents: list[Incident], *, raise_for_incidents: bool
) -> Status:
    """The page's overall state: Statuspage's component rules, then (when asked) open incidents raise it.

    An open incident with no component impact still raises a green page to minor: it is never hidden
    behind "All Systems Operational".
    """
    indicator, description = component_selectors.rollup(component_statuses)
    if raise_for_incidents and open_incidents:
        worst = max((i.effective_impact for i in open_incidents), key=lambda i: IMPACT_RANK[i])
        wanted = worst if worst in RAISED else "minor"
        if INDICATOR_RANK[wanted] > INDICATOR_RANK[indicator]:
            indicator, description = wanted, RAISED[wanted]
    return Status(indicator, description)


# --- Contexts -------------------------------------------------------------------------------------


def _common(page: Page, now: datetime, version: int, root: str) -> dict:
    return {
        "page": page,
        "root": root,
        "now": now,
        "version": version,
        "published_at": now,
        "refresh_seconds": settings.PUBLIC_REFRESH_SECONDS,
        "tz_name": page.time_zone,
    }


def _affected(incident: Incident) -> list[tuple[str | None, list[str]]]:
    """'This incident affected: Group (A, B), C': public components only, grouped."""
    out: list[tuple[str | None, list[str]]] = []
    visible = [c for c in incident.components.all() if c.is_shown]
    visible.sort(key=lambda c: ((c.group.position, c.group_id) if c.group else (c.position, 0), c.position))
    for group, items in groupby(visible, key=lambda c: c.group):
        out.append((group.name if group else None, [c.name for c in items]))
    return out


def _decorate(incidents: list[Incident]) -> list[Incident]:
    for incident in incidents:
        incident.affected = _affected(incident)
        incident.timeline = list(incident.updates.all())
        incident.latest = incident.timeline[0] if incident.timeline else None
        postmortem = getattr(incident, "postmortem", None) if hasattr(incident, "postmortem") else None
        incident.published_postmortem = postmortem if postmortem and postmortem.is_published else None
        for update in incident.timeline:
            update.public_changes = [ch for ch in update.component_changes.all() if ch.component.is_shown]
    return incidents


def index_context(page: Page, *, now: datetime, version: int) -> dict:
    tz = page.tz
    components = list(component_selectors.public_components(page))
    open_incidents = _decorate(incident_selectors.open_incidents(page))
    today = now.astimezone(tz).date()
    since, _ = component_selectors.day_bounds(today - timedelta(days=PAST_DAYS - 1), tz)
    past = _decorate(incident_selectors.recent_incidents(page, since=since))
    showcased = [c for c in components if c.showcase]
    uptimes = component_selectors.uptime_for_components(showcased, tz=tz, now=now, days=UPTIME_DAYS)
    window_start, _ = component_selectors.day_bounds(today - timedelta(days=UPTIME_DAYS - 1), tz)
    _attach_incidents_to_days(page, uptimes, window_start, now)
    for c in components:
        c.uptime = uptimes.get(c.pk)
    statuses = [c.status for c in components]
    return _common(page, now, version, root="") | {
        "status": page_status(statuses, open_incidents, raise_for_incidents=page.incidents_raise_indicator),
        "open_incidents": open_incidents,
        "active_maintenances": _decorate(incident_selectors.active_maintenances(page)),
        "upcoming_maintenances": _decorate(incident_selectors.upcoming_maintenances(page)),
        "sections": component_selectors.sections(page, components),
        "past_days": incident_selectors.incidents_by_day(past, tz=tz, today=today, days=PAST_DAYS),
        "uptime_days": UPTIME_DAYS,
        "has_uptime": bool(showcased),
    }


def _attach_incidents_to_days(page: Page, uptimes: dict, window_start: datetime, now: datetime) -> None:
    if not uptimes:
        return
    incidents = incident_selectors.incidents_overlapping(page, since=window_start, now=now)
    tz = page.tz
    for incident in incidents:
        first = incident.started_at.astimezone(tz).date()
        last = (incident.resolved_at or now).astimezone(tz).date()
        for component in incident.components.all():
            uptime = uptimes.get(component.pk)
            if uptime is None:
                continue
            for day in uptime.days:
                if first <= day.date <= last:
                    day.incidents.append(incident)


def incident_context(page: Page, incident: Incident, *, now: datetime, version: int) -> dict:
    _decorate([incident])
    return _common(page, now, version, root="../") | {"incident": incident}


def history_context(page: Page, *, number: int, now: datetime, version: int) -> dict:
    tz = page.tz
    local = now.astimezone(tz)
    months = []
    y, m = local.year, local.month
    for _ in range((number - 1) * HISTORY_MONTHS_PER_PAGE):
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    for _ in range(HISTORY_MONTHS_PER_PAGE):
        months.append((y, m))
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    by_month = incident_selectors.history_months(page, months=months, tz=tz)
    oldest = (
        Incident.objects.for_page(page).order_by("started_at").values_list("started_at", flat=True).first()
    )
    last_month = months[-1]
    has_older = oldest is not None and (oldest.astimezone(tz).year, oldest.astimezone(tz).month) < last_month
    return _common(page, now, version, root="") | {
        "months": [(date(yy, mm, 1), _decorate(by_month[(yy, mm)])) for yy, mm in months],
        "number": number,
        "newer": number - 1 if number > 1 else None,
        "older": number + 1 if has_older else None,
    }


# --- Documents ------------------------------------------------------------------------------------


def _render(template: str, context: dict, page: Page) -> str:
    with timezone.override(page.tz):
        return render_to_string(template, context)


def _feed(page: Page, incidents: list[Incident], feed_class) -> str:
    base = page.public_url
    feed = feed_class(
        title=f"{page.name} status - incident history",
        link=base,
        # Feed readers show a description as HTML: the page name is escaped like any other user text.
        description=f"Incidents and maintenance of {escape(page.name)}",
        feed_url=base + ("history.atom" if feed_class is Atom1Feed else "history.rss"),
        language="en",
    )
    tz = page.tz
    for incident in _decorate(incidents):
        parts = []
        for update in incident.timeline:
            posted = update.display_at.astimezone(tz).strftime("%b %d, %H:%M %Z")
            parts.append(
                f"<p><small>{posted}</small><br><strong>{update.status_label}</strong> - "
                f"{render_markdown(update.body)}</p>"
            )
        if incident.published_postmortem:
            parts.insert(0, f"<h3>Postmortem</h3>{render_markdown(incident.published_postmortem.body)}")
        feed.add_item(
            title=incident.name,
            link=f"{base}incidents/{incident.code}",
            description="".join(parts),
            unique_id=f"tag:{page.code},{incident.created_at:%Y-%m-%d}:incident/{incident.code}",
            pubdate=incident.started_at,
            updateddate=incident.updated_at,
        )
    return feed.writeString("utf-8")


def render_documents(page: Page, *, now: datetime, version: int) -> dict[str, Document]:
    """Every eagerly published document of `page`, by name."""
    lm = now.timestamp()
    index = index_context(page, now=now, version=version)
    # The live fragment is most of the page (the uptime bars): rendered once, and put into the page as is.
    live = _render("public/index.html#live", index, page)
    docs = {
        "index.html": Document.make(
            _render("public/index.html", index | {"live_html": live}, page), HTML, lm
        ),
        "live.html": Document.make(live, HTML, lm),
        "history/1.html": Document.make(
            _render("public/history.html", history_context(page, number=1, now=now, version=version), page),
            HTML,
            lm,
        ),
    }
    feed_incidents = incident_selectors.latest_feed_incidents(page, limit=FEED_ITEMS)
    docs["history.atom"] = Document.make(
        _feed(page, feed_incidents, Atom1Feed), "application/atom+xml; charset=utf-8", lm
    )
    docs["history.rss"] = Document.make(
        _feed(page, incident_selectors.latest_feed_incidents(page, limit=FEED_ITEMS), Rss201rev2Feed),
        "application/rss+xml; charset=utf-8",
        lm,
    )
    docs.update(api_documents(page, index, now=now))
    # Incidents a reader is likely to open: those on the front page.
    shown = {
        i.pk: i
        for i in index["open_incidents"] + index["active_maintenances"] + index["upcoming_maintenances"]
    }
    for _day, incidents in index["past_days"]:
        shown.update({i.pk: i for i in incidents})
    for incident in shown.values():
        docs[f"incidents/{incident.code}.html"] = Document.make(
            _render("public/incident.html", incident_context(page, incident, now=now, version=version), page),
            HTML,
            lm,
        )
    return docs


def api_documents(page: Page, index: dict, *, now: datetime) -> dict[str, Document]:
    """Statuspage's public v2 JSON documents, from the same state as the HTML page."""
    lm = now.timestamp()
    page_doc = serializers.page_v2(page, now)
    components = serializers.components_v2(list(component_selectors.public_components(page)), page)
    status = page_status(
        [c.status for c in component_selectors.public_components(page)],
        index["open_incidents"],
        raise_for_incidents=page.incidents_raise_indicator,
    )
    status_doc = {"indicator": status.indicator, "description": status.description}
    unresolved = [serializers.incident_v2(i, page) for i in index["open_incidents"]]
    upcoming = [serializers.incident_v2(i, page) for i in index["upcoming_maintenances"]]
    active = [serializers.incident_v2(i, page) for i in index["active_maintenances"]]
    recent = incident_selectors.most_recent(page, kind="incident")
    recent_maintenances = incident_selectors.most_recent(page, kind="maintenance")
    bodies = {
        "summary.json": {
            "page": page_doc,
            "components": components,
            "incidents": unresolved,
            "scheduled_maintenances": active + upcoming,
            "status": status_doc,
        },
        "status.json": {"page": page_doc, "status": status_doc},
        "components.json": {"page": page_doc, "components": components},
        "incidents.json": {"page": page_doc, "incidents": [serializers.incident_v2(i, page) for i in recent]},
        "incidents/unresolved.json": {"page": page_doc, "incidents": unresolved},
        "scheduled-maintenances.json": {
            "page": page_doc,
            "scheduled_maintenances": [serializers.incident_v2(i, page) for i in recent_maintenances],
        },
        "scheduled-maintenances/upcoming.json": {"page": page_doc, "scheduled_maintenances": upcoming},
        "scheduled-maintenances/active.json": {"page": page_doc, "scheduled_maintenances": active},
    }
    return {
        f"api/v2/{name}": Document.make(json.dumps(body, separators=(",", ":")), JSON, lm)
        for name, body in bodies.items()
    }


def live_version_began_after(page_id: int, moment_us: int) -> bool:
    """Whether the page's live snapshot was rendered from reads that began after `moment_us` (epoch
    microseconds), so it shows everything committed before that moment."""
    code = Page.objects.filter(pk=page_id).values_list("code", flat=True).first()
    live = snapshots.read_manifest(code) if code else None
    return bool(live) and live.get("read_from_us", 0) > moment_us


def publish_page(page_id: int) -> dict | None:
    """Render and store the page's snapshot, and refresh the routing index. Idempotent; no transaction
    of its own (it only reads), so it may run while writers commit: the next publish catches up."""
    began_us = time.time_ns() // 1000  # before the first read
    page = Page.objects.filter(pk=page_id).first()
    publish_site_index()
    if page is None:
        return None
    # The version is when rendering began (so the newer state wins a race), and always above the live
    # one, even when two publishes fall in one microsecond or a test has frozen the clock.
    live = snapshots.read_manifest(page.code)
    version = max(began_us, live["version"] + 1 if live else 0)
    # Read before rendering, so a change committed while rendering leaves the marker behind (the sweeper
    # then republishes) rather than ahead.
    last_change = last_change_of(page.pk)
    now = timezone.now()
    docs = render_documents(page, now=now, version=version)
    manifest = {
        "version": version,
        "page": page.code,
        "slug": page.slug,
        "published_at": now.isoformat(),
        "day": now.astimezone(page.tz).date().isoformat(),
        "time_zone": page.time_zone,
        "last_change": last_change,
        # The clock when this render began reading (the version may run ahead of it): a publish queued
        # before this moment has nothing to add (tasks.publish_page_task).
        "read_from_us": began_us,
    }
    snapshots.write_version(page.code, manifest, docs)
    return manifest


def publish_site_index() -> dict:
    """Hosts and slugs to page codes, so a public request finds its page without the database."""
    rows = list(Page.objects.values_list("code", "slug", "custom_domain", "visibility", "allowed_ip_ranges"))
    pages = [row[:3] for row in rows]
    index = {
        "slugs": {slug: code for code, slug, _ in pages},
        "domains": {domain.lower(): code for code, _, domain in pages if domain},
        "single": pages[0][0] if len(pages) == 1 else None,
        # Private pages (statuspage.private): the fast path falls through to Django for these, and the
        # guard checks their IP ranges without a database query.
        "pages": {
            code: {"private": True, "ip_ranges": [r.strip() for r in ranges.splitlines() if r.strip()]}
            for code, _, _, visibility, ranges in rows
            if visibility == "private"
        },
    }
    snapshots.write_site_index(index)
    return index


def render_lazy(page_code: str, name: str, *, version: int) -> Document | None:
    """Render a document that is not published eagerly (an old incident, a later history page, an API
    document of one incident or of a history page, a badge, the embed script).

    Names come from the views, which build them from validated parts only. The document is stored under
    `version`, so the next publish (a new version) renders it afresh."""
    page = Page.objects.filter(code=page_code).first()
    if page is None:
        return None
    if name.startswith("api/v2/"):
        return _render_lazy_api(page, name.removeprefix("api/v2/"), version=version)
    if name.endswith(".svg") and (name.startswith("badge") or name.startswith("components/")):
        return _render_lazy_badge(page, name, version=version)
    if name == "embed/script.js":
        return _render_embed_script(page, version=version)
    now = timezone.now()
    if name.startswith("incidents/"):
        code = name.removeprefix("incidents/").removesuffix(".html")
        incident = incident_selectors.incident_detail(page, code)
        if incident is None:
            return None
        body = _render(
            "public/incident.html", incident_context(page, incident, now=now, version=version), page
        )
    elif name.startswith("history/"):
        number = int(name.removeprefix("history/").removesuffix(".html"))
        context = history_context(page, number=number, now=now, version=version)
        if number > 1 and not any(items for _, items in context["months"]) and context["older"] is None:
            return None
        body = _render("public/history.html", context, page)
    else:
        return None
    return Document.make(body, HTML, now.timestamp())


# --- Lazily rendered API documents, badges and the embed script ----------------------------------------

HISTORY_API_PER_PAGE = 50
JAVASCRIPT = "application/javascript; charset=utf-8"
SVG = "image/svg+xml; charset=utf-8"
EMBED_SOURCE = "js/embed.js"
EMBED_PLACEHOLDER = '"__STATUSPAGE_PAGE_URL__"'
# Characters that may not appear raw in a JavaScript string inside any context we could be pasted into.
_JS_ESCAPES = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def _published_at(page_code: str, version: int) -> datetime:
    """When `version` was published: the `updated_at` of every API document of that version, so a document
    rendered later (or twice, by two processes) has the same bytes and ETag as if rendered eagerly."""
    manifest = snapshots.read_manifest(page_code)
    if manifest is not None and manifest.get("version") == version and manifest.get("published_at"):
        return datetime.fromisoformat(manifest["published_at"])
    return timezone.now()


def _closed_incidents_page(page: Page, *, number: int) -> list[Incident]:
    """Page `number` (from 1) of the resolved incidents and completed maintenances, newest first by start,
    as history.html orders them. One page costs a fixed number of queries (an OFFSET on the
    (page, -started_at) index)."""
    # incidents.selectors owns the prefetch that makes incident_v2 query-free; it has no paged reader of
    # closed incidents yet, so this borrows its timeline prefetch rather than repeat it.
    qs = Incident.objects.for_page(page).filter(status__in=CLOSED_STATUSES).order_by("-started_at", "-id")
    start = (number - 1) * HISTORY_API_PER_PAGE
    return list(incident_selectors.with_timeline(qs)[start : start + HISTORY_API_PER_PAGE])


def _render_lazy_api(page: Page, name: str, *, version: int) -> Document | None:
    published = _published_at(page.code, version)
    if name.startswith("history/"):
        try:
            number = int(name.removeprefix("history/").removesuffix(".json"))
        except ValueError:
            return None
        if number < 1:
            return None
        incidents = _closed_incidents_page(page, number=number)
        if number > 1 and not incidents:
            return None
        body: dict = {
            "page": serializers.page_v2(page, published),
            "incidents": [serializers.incident_v2(i, page) for i in incidents],
        }
    elif name.startswith("incidents/"):
        code = name.removeprefix("incidents/").removesuffix(".json")
        incident = incident_selectors.incident_detail(page, code)
        if incident is None:
            return None
        body = {
            "page": serializers.page_v2(page, published),
            "incident": serializers.incident_v2(incident, page),
        }
    else:
        return None
    return Document.make(json.dumps(body, separators=(",", ":")), JSON, published.timestamp())


def _summary(page: Page, *, version: int) -> dict:
    """summary.json of `version`, as published; rebuilt from the database only if the snapshot lost it."""
    doc = snapshots.read_document(page.code, version, "api/v2/summary.json")
    if doc is not None:
        return json.loads(doc.body)
    index = {
        "open_incidents": incident_selectors.open_incidents(page),
        "active_maintenances": incident_selectors.active_maintenances(page),
        "upcoming_maintenances": incident_selectors.upcoming_maintenances(page),
    }
    docs = api_documents(page, index, now=_published_at(page.code, version))
    return json.loads(docs["api/v2/summary.json"].body)


def _render_lazy_badge(page: Page, name: str, *, version: int) -> Document | None:
    """badge[-<style>].svg for the page, components/<code>/badge[-<style>].svg for one public component,
    drawn from the version's summary.json so a badge never disagrees with the API."""
    from statuspage import badges

    parts = name.split("/")
    filename = parts[-1]
    style = filename.removeprefix("badge").removesuffix(".svg").removeprefix("-") or "flat"
    if style not in badges.STYLES or not filename.startswith("badge"):
        return None
    summary = _summary(page, version=version)
    if len(parts) == 1:
        svg = badges.page_badge(summary, style=style)
    elif len(parts) == 3 and parts[0] == "components":
        svg = badges.component_badge(summary, parts[1], style=style)
        if svg is None:
            return None
    else:
        return None
    return Document.make(svg, SVG, _published_at(page.code, version).timestamp())


def _render_embed_script(page: Page, *, version: int) -> Document | None:
    """static/js/embed.js with this page's absolute address put in as a JSON string literal."""
    from django.contrib.staticfiles import finders

    path = finders.find(EMBED_SOURCE)
    if path is None:
        log.error("embed script %s not found", EMBED_SOURCE)
        return None
    with open(path, encoding="utf-8") as fh:
        source = fh.read()
    if source.count(EMBED_PLACEHOLDER) != 1:
        log.error("embed script %s must hold %s exactly once", EMBED_SOURCE, EMBED_PLACEHOLDER)
        return None
    literal = json.dumps(page.public_url).translate(_JS_ESCAPES)
    body = source.replace(EMBED_PLACEHOLDER, literal)
    return Document.make(body, JAVASCRIPT, _published_at(page.code, version).timestamp())


def last_change_of(page_id: int) -> int | None:
    """The page's latest audit event: every command that changes what the page shows writes one."""
    return (
        AuditEvent.objects.filter(page_id=page_id)
        .order_by("-created_at", "-id")
        .values_list("id", flat=True)
        .first()
    )


def refresh_stale_snapshots() -> list[int]:
    """Republish every page whose snapshot is missing, rendered before today in its zone (the uptime
    bars and the 14 days of history move at midnight), or behind its audit trail: a change whose publish
    was never enqueued (the broker was down at commit) or never finished (its worker was killed; the broker
    would redeliver it only after its visibility timeout). Idempotent; returns the pages republished.

    One query finds each page's latest change (the (page, -created_at) index). A change committed while a
    publish was rendering, whose own enqueue was also lost, and which is not the page's latest by time
    (another change landed after it first) waits for the next change or the next day."""
    now = timezone.now()
    done = []
    latest = AuditEvent.objects.filter(page=OuterRef("pk")).order_by("-created_at", "-id").values("id")[:1]
    for page in Page.objects.annotate(last_change=Subquery(latest)):
        manifest = snapshots.read_manifest(page.code)
        if (
            manifest is None
            or manifest.get("day") != now.astimezone(page.tz).date().isoformat()
            or (page.last_change is not None and manifest.get("last_change") != page.last_change)
        ):
            try:
                publish_page(page.pk)
                done.append(page.pk)
            except Exception:  # one broken page must not stop the others; it is retried next minute
                log.exception("publishing page %s failed", page.pk)
    return done

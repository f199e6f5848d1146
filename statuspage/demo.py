"""The demo page: a realistic page built from the seed incident reports, through the same commands the
console and the API use.

Two seed incidents are replayed with their real timelines and texts in their original zone (Pacific
time), with their postmortems; ninety days of component history give the uptime bars real colours; a
recent incident fills the past-incidents list; one maintenance is upcoming. Deterministic for a given
"now": the recent history is laid out at fixed offsets from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from components.models import Component
from components.services import create_component, create_group, set_component_status
from incidents.services import (
    create_incident,
    post_update,
    publish_postmortem,
    save_postmortem,
    schedule_maintenance,
)
from statuspage.demo_content import POSTMORTEM_001, POSTMORTEM_002, RESOLVED_001
from statuspage.models import Page
from statuspage.services import Actor, create_page

SLUG = "demo"
PACIFIC = ZoneInfo("America/Los_Angeles")
DEMO = Actor(label="demo")


def pt(text: str) -> datetime:
    """'Jun 06, 2023 08:11' in Pacific time (PDT or PST as the date says), as an aware datetime."""
    return datetime.strptime(text, "%b %d, %Y %H:%M").replace(tzinfo=PACIFIC)


@dataclass(frozen=True)
class Step:
    at: str
    status: str
    body: str
    components: dict[str, str] | None = None


# Seed 001: the June 6, 2023 API outage, update by update (the report lists them newest first).
TIMELINE_001 = [
    Step(
        "Jun 06, 2023 07:57",
        "investigating",
        "We are currently investigating this issue.",
        {"API": "degraded_performance"},
    ),
    Step(
        "Jun 06, 2023 08:11",
        "investigating",
        "Because of a failure of one of our clusters, the Nylas API is currently unreachable. The team is "
        "investigating and working to get the API service back ASAP.",
        {"API": "major_outage", "Dashboard": "partial_outage", "Scheduler": "partial_outage"},
    ),
    Step("Jun 06, 2023 08:46", "investigating", "We are continuing to investigate this issue."),
    Step(
        "Jun 06, 2023 09:33",
        "investigating",
        "The team is still working as fast as possible to get the API service back. Thank you for your "
        "continued patience.",
    ),
    Step(
        "Jun 06, 2023 09:35",
        "monitoring",
        "We are seeing API traffic picking back up. We are monitoring.",
        {"API": "partial_outage", "Dashboard": "degraded_performance", "Scheduler": "degraded_performance"},
    ),
    Step(
        "Jun 06, 2023 09:47",
        "monitoring",
        "We are seeing the API traffic going back to normal levels. We will monitor for the next 15 minutes to "
        "ensure it remains stable.",
        {"API": "degraded_performance"},
    ),
    Step(
        "Jun 06, 2023 10:17",
        "investigating",
        "The API service is unreachable again. The team is looking into it.",
        {"API": "major_outage", "Dashboard": "partial_outage", "Scheduler": "partial_outage"},
    ),
    Step("Jun 06, 2023 11:04", "investigating", "We are continuing to investigate this issue."),
    Step(
        "Jun 06, 2023 11:38",
        "investigating",
        "We are continuing to work to bring the API service back up. Thank you for hanging in there with us.",
    ),
    Step(
        "Jun 06, 2023 12:27",
        "investigating",
        "The team is still investigating and working on bringing the API service back ASAP.",
    ),
    Step("Jun 06, 2023 13:11", "investigating", "We are continuing to investigate this issue."),
    Step(
        "Jun 06, 2023 13:55",
        "identified",
        "We have rebuilt a key component of our infrastructure to try to mitigate the current issue. We have "
        "slowly routed traffic to it and we see that it’s helping. We will keep you posted as we ramp up the "
        "traffic.",
        {"API": "partial_outage"},
    ),
    Step(
        "Jun 06, 2023 14:08",
        "monitoring",
        "API traffic is picking back up. We are monitoring things closely.",
        {"Dashboard": "degraded_performance", "Scheduler": "degraded_performance"},
    ),
    Step(
        "Jun 06, 2023 14:41",
        "identified",
        "We are seeing API traffic and success rate back to normal levels but you might see elevated latencies "
        "still. We are looking into it.",
        {"API": "degraded_performance"},
    ),
    Step(
        "Jun 06, 2023 15:26",
        "monitoring",
        "We are seeing our API traffic and success rates stabilizing and holding consistently, with latency "
        "reduced to normal levels. We will continue to monitor.",
        {"Dashboard": "operational", "Scheduler": "operational"},
    ),
    Step("Jun 06, 2023 16:04", "resolved", RESOLVED_001, {"API": "operational"}),
]

# Seed 002: April 4, 2023, with its back-and-forth statuses.
TIMELINE_002 = [
    Step(
        "Apr 04, 2023 20:21",
        "investigating",
        "We are receiving reports of Nylas applications being inactive and preventing API calls to succeed. We "
        "are looking into it.",
        {"API": "partial_outage"},
    ),
    Step(
        "Apr 04, 2023 20:45",
        "identified",
        "We are proceeding with re-activating the Nylas applications that have been wrongly disabled. API calls "
        "should start working again when your Nylas application gets re-activated.",
    ),
    Step(
        "Apr 04, 2023 21:05",
        "monitoring",
        "We have proceeded with re-activating all wrongly disabled Nylas applications. All Nylas API calls should "
        "be succeeding now. We will be monitoring to ensure all is back to normal.",
        {"API": "operational"},
    ),
    Step(
        "Apr 04, 2023 21:11",
        "identified",
        "We are seeing some Nylas applications still being disabled. We are working on re-enabling them. Thank "
        "you for your patience.",
        {"API": "partial_outage"},
    ),
    Step(
        "Apr 04, 2023 21:16",
        "monitoring",
        "We confirm all Nylas applications have now been properly re-activated. We will monitor for a while to "
        "ensure things stay stable.",
        {"API": "operational"},
    ),
    Step("Apr 04, 2023 21:58", "resolved", "This incident has been resolved."),
]

GROUPS = {
    "Nylas Application Services": ["API", "Dashboard", "Scheduler"],
    "API endpoints": ["Calendars API", "Events API", "Email API", "Webhooks"],
    "Regions": ["US", "EU", "APAC"],
}
DESCRIPTIONS = {
    "API": "The Nylas REST API at api.nylas.com.",
    "Dashboard": "The developer dashboard for managing applications.",
    "Scheduler": "Hosted scheduling pages and the Scheduler API.",
    "Webhooks": "Webhook notifications sent to your endpoints.",
}


def build(*, now: datetime | None = None) -> Page:
    """Build the demo page. One transaction: on any error nothing is left half-written."""
    now = now or timezone.now()
    # The components exist from before the replayed 2023 incidents.
    start = pt("Jan 02, 2023 09:00")
    with transaction.atomic():
        page = create_page(
            actor=DEMO,
            name="Nylas Status (demo)",
            slug=SLUG,
            time_zone="America/Los_Angeles",
            headline="Live status of the Nylas API, Dashboard and Scheduler.",
            support_url="https://support.example.com/",
            brand_colour="#2f5bea",
        )
        c: dict[str, Component] = {}
        for position, (group_name, names) in enumerate(GROUPS.items(), start=1):
            group = create_group(
                actor=DEMO, page=page, name=group_name, position=position, collapsed=group_name == "Regions"
            )
            for i, name in enumerate(names, start=1):
                c[name] = create_component(
                    actor=DEMO,
                    page=page,
                    name=name,
                    group=group,
                    position=i,
                    at=start,
                    description=DESCRIPTIONS.get(name, ""),
                    start_date=start.date(),
                )
        # Seed 000: the Redis cache that also backed authentication for /calendars and /events.
        c["Redis auth cache"] = create_component(
            actor=DEMO,
            page=page,
            name="Redis auth cache",
            is_public=False,
            showcase=False,
            at=start,
            position=len(GROUPS) + 1,
            description="Internal: session cache, also the secondary authentication store for Calendars and Events.",
        )

        _replay(
            page,
            c,
            "US | Elevated API latencies and elevated rate of 520 errors",
            TIMELINE_001,
            postmortem=POSTMORTEM_001,
            postmortem_at=pt("Jun 12, 2023 16:04"),
        )
        _replay(
            page,
            c,
            "Nylas applications not active preventing API calls",
            TIMELINE_002,
            postmortem=POSTMORTEM_002,
            postmortem_at=pt("Apr 12, 2023 11:00"),
        )
        _recent_history(page, c, now)
        _upcoming_maintenance(page, c, now)
    return page


def _replay(page, c, name, steps, *, postmortem=None, postmortem_at=None, backfilled=True):
    def components(step):
        return {c[n]: s for n, s in (step.components or {}).items()}

    first, *rest = steps
    incident = create_incident(
        actor=DEMO,
        page=page,
        name=name,
        status=first.status,
        body=first.body,
        components=components(first),
        backfilled=backfilled,
        deliver_notifications=False,
        at=_at(first.at),
    )
    for step in rest:
        post_update(
            actor=DEMO,
            incident=incident,
            status=step.status,
            body=step.body,
            components=components(step),
            deliver_notifications=False,
            at=_at(step.at),
        )
    if postmortem:
        save_postmortem(actor=DEMO, incident=incident, body=postmortem)
        publish_postmortem(actor=DEMO, incident=incident, at=postmortem_at)
    return incident


def _at(value):
    return pt(value) if isinstance(value, str) else value


def _recent_history(page, c, now):
    """Ninety days of plausible history at fixed offsets from now, several tied to incidents."""
    day = timedelta(days=1)
    hour = timedelta(hours=1)

    def incident(days_ago, hour_of_day, name, steps):
        base = (
            (now - days_ago * day)
            .astimezone(PACIFIC)
            .replace(hour=hour_of_day, minute=7, second=0, microsecond=0)
        )
        _replay(page, c, name, [Step(base + offset, s, body, comps) for offset, s, body, comps in steps])

    # Seed 004's lesson, as this page's own: a regional change stalled some webhook sends.
    incident(
        71,
        14,
        "Delayed webhook deliveries in EU",
        [
            (
                timedelta(0),
                "investigating",
                "Some webhook notifications are delayed by up to 20 minutes. We are investigating.",
                {"Webhooks": "degraded_performance", "EU": "degraded_performance"},
            ),
            (
                40 * timedelta(minutes=1),
                "identified",
                "Sending services in EU were restarting after this morning's "
                "change. We have rolled it back and are resuming the stalled deliveries.",
                None,
            ),
            (
                2 * hour,
                "monitoring",
                "All stalled deliveries have been resumed. We are monitoring.",
                {"Webhooks": "operational", "EU": "operational"},
            ),
            (3 * hour, "resolved", "This incident has been resolved. No notification was lost.", None),
        ],
    )
    # Seed 003's lesson: authentication latency and retries snowballed.
    incident(
        38,
        6,
        "Elevated error rates on Calendars and Events APIs",
        [
            (
                timedelta(0),
                "investigating",
                "Requests to /calendars and /events are failing with 5xx errors for some applications.",
                {"Calendars API": "partial_outage", "Events API": "partial_outage"},
            ),
            (
                25 * timedelta(minutes=1),
                "identified",
                "Authentication latency rose after a deploy and client retries "
                "amplified the load. We are rolling back.",
                {"Calendars API": "major_outage", "Events API": "major_outage"},
            ),
            (
                70 * timedelta(minutes=1),
                "monitoring",
                "The rollback is complete and error rates are back to normal.",
                {"Calendars API": "operational", "Events API": "operational"},
            ),
            (2 * hour, "resolved", "This incident has been resolved.", None),
        ],
    )
    incident(
        17,
        9,
        "Dashboard loading slowly",
        [
            (
                timedelta(0),
                "investigating",
                "The Dashboard is loading slowly for some users.",
                {"Dashboard": "degraded_performance"},
            ),
            (
                50 * timedelta(minutes=1),
                "resolved",
                "A slow database query was fixed. The Dashboard is fast again.",
                {"Dashboard": "operational"},
            ),
        ],
    )
    incident(
        3,
        10,
        "US | Elevated API latencies",
        [
            (
                timedelta(0),
                "investigating",
                "We are seeing elevated latencies on API calls in the US region.",
                {"API": "degraded_performance", "US": "degraded_performance"},
            ),
            (
                30 * timedelta(minutes=1),
                "identified",
                "A DNS resolver in one cluster is slow. We are replacing it.",
                {"API": "partial_outage"},
            ),
            (
                55 * timedelta(minutes=1),
                "monitoring",
                "The resolver has been replaced and latencies are back to normal. We are monitoring.",
                {"API": "operational", "US": "operational"},
            ),
            (95 * timedelta(minutes=1), "resolved", "This incident has been resolved.", None),
        ],
    )
    # Status blips without an incident: automation flagged them and recovered on its own.
    for days_ago, name, status, minutes in (
        (84, "Email API", "partial_outage", 35),
        (56, "APAC", "degraded_performance", 90),
        (24, "Scheduler", "major_outage", 12),
    ):
        at = (now - days_ago * day).astimezone(PACIFIC).replace(hour=3, minute=20, second=0, microsecond=0)
        set_component_status(actor=DEMO, component=c[name], status=status, at=at)
        set_component_status(
            actor=DEMO, component=c[name], status="operational", at=at + timedelta(minutes=minutes)
        )


def _upcoming_maintenance(page, c, now):
    start = (now + timedelta(days=4)).astimezone(PACIFIC).replace(hour=2, minute=0, second=0, microsecond=0)
    schedule_maintenance(
        actor=DEMO,
        page=page,
        name="Redis auth cache TLS upgrade",
        scheduled_for=start,
        scheduled_until=start + timedelta(hours=1),
        components=[c["API"], c["Calendars API"], c["Events API"]],
        body="We are upgrading the connection security of the cache that backs API authentication. Calendars and "
        "Events API calls may see brief errors during the window; we will post updates here as the work goes on.",
        deliver_notifications=False,
    )

"""Recurring maintenance windows expanded into concrete ones, in the page's time zone.

The rule runs on local wall-clock times (dateutil's rrule on naive datetimes), and each window is then
placed in the zone: a window at 02:00 local stays at 02:00 local when daylight saving time begins or ends,
and its UTC time moves. A local time that does not exist (02:30 on the night clocks go forward) is read
with the offset before the change (zoneinfo's fold=0), so the window starts an hour later on the wall
clock, at the same instant it would have without the change; a time that happens twice starts at the first.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil import rrule

from incidents.models import Frequency, MaintenanceSeries

DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}
WEEKDAYS = [rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR, rrule.SA, rrule.SU]


def _aware(local: datetime, tz: ZoneInfo) -> datetime:
    return local.replace(tzinfo=tz).astimezone(UTC)


def rule(series: MaintenanceSeries) -> rrule.rrule:
    """The series' rule on naive local datetimes, starting at its first window."""
    tz = series.page.tz
    first = series.first_start.astimezone(tz).replace(tzinfo=None)
    kwargs: dict = {"dtstart": first, "interval": series.interval}
    if series.until is not None:
        kwargs["until"] = datetime.combine(series.until, time.max)
    if series.frequency == Frequency.WEEKLY:
        days = series.weekdays or [first.weekday()]
        return rrule.rrule(rrule.WEEKLY, byweekday=[WEEKDAYS[d] for d in days], **kwargs)
    if series.month_week is not None:
        weekday = WEEKDAYS[series.month_weekday if series.month_weekday is not None else first.weekday()]
        return rrule.rrule(rrule.MONTHLY, byweekday=weekday(series.month_week), **kwargs)
    return rrule.rrule(rrule.MONTHLY, bymonthday=series.month_day or first.day, **kwargs)


def windows(
    series: MaintenanceSeries, *, after: datetime, until: datetime
) -> list[tuple[datetime, datetime]]:
    """The (start, end) in UTC of each window of the series that starts in (after, until]."""
    tz = series.page.tz
    duration = timedelta(minutes=series.duration_minutes)
    # A day's margin each side: the rule works in local time, the bounds are instants.
    local_after = after.astimezone(tz).replace(tzinfo=None) - timedelta(days=1)
    local_until = until.astimezone(tz).replace(tzinfo=None) + timedelta(days=1)
    out = []
    for local in rule(series).between(local_after, local_until, inc=True):
        start = _aware(local, tz)
        if not after < start <= until:
            continue
        end = _aware(local + duration, tz)
        if end <= start:  # the end fell in a skipped hour
            end = start + duration
        out.append((start, end))
    return out


def describe(series: MaintenanceSeries) -> str:
    """ "Every Tuesday, 02:00-04:00 Europe/Berlin", "The first Sunday of every month, ..."."""
    tz = series.page.tz
    first = series.first_start.astimezone(tz)
    end = (first.replace(tzinfo=None) + timedelta(minutes=series.duration_minutes)).time()
    hours = f"{first:%H:%M} to {end:%H:%M} {series.page.time_zone}"
    every = "" if series.interval == 1 else f" {series.interval}"
    if series.frequency == Frequency.WEEKLY:
        days = ", ".join(DAY_NAMES[d] for d in (series.weekdays or [first.weekday()]))
        unit = "week" if series.interval == 1 else "weeks"
        text = f"Every {days}" if series.interval == 1 else f"Every{every} {unit} on {days}"
    elif series.month_week is not None:
        day = DAY_NAMES[series.month_weekday if series.month_weekday is not None else first.weekday()]
        unit = "month" if series.interval == 1 else f"{series.interval} months"
        text = f"The {ORDINALS[series.month_week]} {day} of every {unit}"
    else:
        unit = "month" if series.interval == 1 else f"{series.interval} months"
        text = f"Day {series.month_day or first.day} of every {unit}"
    if series.until is not None:
        text += f", until {series.until:%b %d, %Y}"
    return f"{text}, {hours}"

"""Partitions are slate dates: the US/Eastern calendar date of the games."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

EASTERN = ZoneInfo("America/New_York")


def slate_window(partition: date) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the games whose US/Eastern date is `partition`."""
    start = datetime.combine(partition, time(0, 0), tzinfo=EASTERN).astimezone(UTC)
    end = datetime.combine(partition + timedelta(days=1), time(0, 0), tzinfo=EASTERN)
    return start, end.astimezone(UTC)


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

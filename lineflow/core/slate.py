"""Partitions are slate dates: the US/Eastern calendar date of the games.

`today` and `yesterday` name a partition relative to a moment (a trigger's publish time, a
run's `now=`, else the wall clock): the Eastern date of that moment, so 03:30 UTC on the 24th
is still the 23rd's slate. They are resolved once, where the date comes in, and only the date
is recorded.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

EASTERN = ZoneInfo("America/New_York")


def slate_window(partition: date) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the games whose US/Eastern date is `partition`."""
    start = datetime.combine(partition, time(0, 0), tzinfo=EASTERN).astimezone(UTC)
    end = datetime.combine(partition + timedelta(days=1), time(0, 0), tzinfo=EASTERN)
    return start, end.astimezone(UTC)


#: Words for a partition relative to a moment, and how many days before its Eastern date.
RELATIVE_DAYS = {"today": 0, "yesterday": 1}


def slate_date(moment: datetime) -> date:
    """The US/Eastern date of `moment` (a naive moment is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(EASTERN).date()


def relative_partition(word: str, moment: datetime) -> date | None:
    """The partition `today`/`yesterday` names at `moment`; None for any other word."""
    back = RELATIVE_DAYS.get(word)
    return None if back is None else slate_date(moment) - timedelta(days=back)


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

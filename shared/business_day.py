"""Sweden's date is the business day, whatever zone a pod runs in: follow-ups and check-ins fall
due on it, offers are made on it and intake receives referrals on it. The zone and the clock's
type live here so that every service reckons the day the same way."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Final
from zoneinfo import ZoneInfo

SWEDEN: Final = ZoneInfo("Europe/Stockholm")

# Today's business day. Injected rather than read from the wall clock, so that a demo or a test
# can fix the day (INSATS_TODAY, see Settings.business_today).
Clock = Callable[[], date]


def day_in_sweden(moment: datetime) -> date:
    return moment.astimezone(SWEDEN).date()

"""A pipeline's schedule in words ("At 03:00, every day"), shown beside the schedule field as it is typed.

Cron expressions are described by cron-descriptor (24-hour times); Airflow's presets and timedelta-like
texts (``1 day, 0:00:00``, ``6:00:00``) get words of their own. Anything else gets none: validation says
what is wrong with it.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .checks import SCHEDULE_PRESETS

__all__ = ["schedule_words"]

PRESET_WORDS = {
    "@once": "Once, at the start date",
    "@continuous": "Continuously: a new run as soon as the previous one ends",
    "@hourly": "At the start of every hour",
    "@daily": "At 00:00, every day",
    "@weekly": "At 00:00, every Sunday",
    "@monthly": "At 00:00, on the first day of every month",
    "@quarterly": "At 00:00, on the first day of January, April, July and October",
    "@yearly": "At 00:00, on January 1 every year",
    "@annually": "At 00:00, on January 1 every year",
}
assert set(PRESET_WORDS) == set(SCHEDULE_PRESETS)

_TIMEDELTA_RE = re.compile(r"(?:(?P<days>\d+) days?, )?(?P<hours>\d{1,2}):(?P<minutes>\d\d):(?P<seconds>\d\d)")


@lru_cache(maxsize=256)  # the editor asks again for every redraw of a bound label
def schedule_words(schedule: str | None) -> str:
    """The schedule in words; '' when there is none to give (empty, or not a schedule)."""
    text = (schedule or "").strip()
    if not text:
        return ""
    if text.startswith("@"):
        return PRESET_WORDS.get(text, "")
    interval = _TIMEDELTA_RE.fullmatch(text)
    if interval:
        return _interval_words(interval)
    return _cron_words(text)


def _interval_words(match: re.Match[str]) -> str:
    amounts = [
        (int(match["days"] or 0), "day"),
        (int(match["hours"]), "hour"),
        (int(match["minutes"]), "minute"),
        (int(match["seconds"]), "second"),
    ]
    if int(match["minutes"]) > 59 or int(match["seconds"]) > 59 or int(match["hours"]) > 23:
        return ""
    parts = [f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in amounts if n]
    if not parts:
        return ""
    return "Every " + " ".join(parts) + ", counted from the start date"


def _cron_words(expression: str) -> str:
    from cron_descriptor import CasingTypeEnum, ExpressionDescriptor, Options
    from cron_descriptor.Exception import FormatException, MissingFieldException, WrongArgumentException
    from croniter import croniter

    fields = expression.split()
    if len(fields) != 5 or not croniter.is_valid(expression):
        return ""
    options = Options()
    options.use_24hour_time_format = True
    options.casing_type = CasingTypeEnum.Sentence
    try:
        words = str(ExpressionDescriptor(expression, options).get_description())
    except (FormatException, MissingFieldException, WrongArgumentException, ValueError, KeyError, IndexError):
        return ""
    # cron-descriptor leaves "every day" unsaid for a time of day; a reader looks for it.
    minute, hour, day, month, weekday = fields
    if day == month == weekday == "*" and not any(c in minute + hour for c in "*/-"):
        words += ", every day"
    return words

"""A schedule in words: cron expressions, Airflow presets and timedelta-like intervals; nothing for invalid text."""

from __future__ import annotations

import pytest

from dagsmith.nodes.checks import SCHEDULE_PRESETS
from dagsmith.nodes.schedule_words import schedule_words


@pytest.mark.parametrize(
    ("schedule", "words"),
    [
        ("0 3 * * *", "At 03:00, every day"),
        ("30 14 * * *", "At 14:30, every day"),
        ("0 3,15 * * *", "At 03:00 and 15:00, every day"),
        ("*/5 * * * *", "Every 5 minutes"),
        ("0 0 * * 1-5", "At 00:00, Monday through Friday"),
        ("30 14 1 * *", "At 14:30, on day 1 of the month"),
        ("@daily", "At 00:00, every day"),
        ("@hourly", "At the start of every hour"),
        ("1 day, 0:00:00", "Every 1 day, counted from the start date"),
        ("2 days, 6:30:00", "Every 2 days 6 hours 30 minutes, counted from the start date"),
        ("6:00:00", "Every 6 hours, counted from the start date"),
    ],
)
def test_words(schedule: str, words: str) -> None:
    assert schedule_words(schedule) == words


@pytest.mark.parametrize("schedule", ["", None, "bad", "0 3 * *", "99 3 * * *", "@dail", "0:00:00", "1:75:00"])
def test_no_words_for_what_is_not_a_schedule(schedule: str | None) -> None:
    assert schedule_words(schedule) == ""


def test_every_preset_has_words() -> None:
    assert all(schedule_words(preset) for preset in SCHEDULE_PRESETS)

"""Frequency grammar (reference section 4.3): every example of the reference, the documented limits and
refusals, and the next run time of each form, computed from a fixed moment (no clock)."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.invocations import schedule
from console.invocations.schedule import FrequencyError

NOW = datetime(2022, 1, 1, 0, 0, 0, tzinfo=UTC)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def runs(frequency: str, count: int = 3, *, now: datetime = NOW, timeout: int = 0) -> list[datetime]:
    parsed = schedule.parse(frequency, now=now, timeout=timeout)
    found, moment = [], now
    for _ in range(count):
        moment = parsed.next_after(moment, created=now)
        if moment is None:
            break
        found.append(moment)
    return found


@pytest.mark.parametrize(
    ("frequency", "expected"),
    [
        # Reference examples.
        ("rate(5m)", [utc(2022, 1, 1, 0, 5), utc(2022, 1, 1, 0, 10), utc(2022, 1, 1, 0, 15)]),
        ("at(2022-06-06 13:15:30 Asia/Shanghai)", [utc(2022, 6, 6, 5, 15, 30)]),
        (
            "0 15 10 ? * * 2022 Asia/Shanghai",
            [utc(2022, 1, 1, 2, 15), utc(2022, 1, 2, 2, 15), utc(2022, 1, 3, 2, 15)],
        ),
        (
            "0 0/30 10-11 * * ? 2022 GMT+8:00",
            [utc(2022, 1, 1, 2, 0), utc(2022, 1, 1, 2, 30), utc(2022, 1, 1, 3, 0)],
        ),
        (
            "0 0/5 14 * 10 ? 2022/2 UTC",
            [utc(2022, 10, 1, 14, 0), utc(2022, 10, 1, 14, 5), utc(2022, 10, 1, 14, 10)],
        ),
        # Units, case, spaces as the agent's regex allows.
        ("rate(60s)", [utc(2022, 1, 1, 0, 1), utc(2022, 1, 1, 0, 2), utc(2022, 1, 1, 0, 3)]),
        ("RATE( 2 H )", [utc(2022, 1, 1, 2), utc(2022, 1, 1, 4), utc(2022, 1, 1, 6)]),
        ("rate(7d)", [utc(2022, 1, 8), utc(2022, 1, 15), utc(2022, 1, 22)]),
        # at without a zone is UTC; the GMT form and plain GMT.
        ("at(2022-01-02 03:04:05)", [utc(2022, 1, 2, 3, 4, 5)]),
        ("at(2022-01-02 03:04:05 GMT-5:30)", [utc(2022, 1, 2, 8, 34, 5)]),
        ("at(2022-01-02 03:04:05 GMT)", [utc(2022, 1, 2, 3, 4, 5)]),
        # 6 fields (no year, no zone: UTC); 7 fields with a zone instead of a year.
        ("0 0 12 * * ?", [utc(2022, 1, 1, 12), utc(2022, 1, 2, 12), utc(2022, 1, 3, 12)]),
        (
            "30 0 12 ? * MON Europe/Paris",
            [utc(2022, 1, 3, 11, 0, 30), utc(2022, 1, 10, 11, 0, 30), utc(2022, 1, 17, 11, 0, 30)],
        ),
        # Day of week 1-7 is Monday-Sunday; ranges and names.
        ("0 0 0 ? * 7 *", [utc(2022, 1, 2), utc(2022, 1, 9), utc(2022, 1, 16)]),
        ("0 0 0 ? * 1 *", [utc(2022, 1, 3), utc(2022, 1, 10), utc(2022, 1, 17)]),
        ("0 0 0 ? * 5-7", [utc(2022, 1, 2), utc(2022, 1, 7), utc(2022, 1, 8)]),
        ("0 0 0 ? JAN-MAR MON-FRI", [utc(2022, 1, 3), utc(2022, 1, 4), utc(2022, 1, 5)]),
        # L, W, LW, # and nL.
        ("0 0 0 L * ?", [utc(2022, 1, 31), utc(2022, 2, 28), utc(2022, 3, 31)]),
        ("0 0 0 15W * ?", [utc(2022, 1, 14), utc(2022, 2, 15), utc(2022, 3, 15)]),
        ("0 0 0 LW * ?", [utc(2022, 1, 31), utc(2022, 2, 28), utc(2022, 3, 31)]),
        ("0 0 0 LW 4-5 ?", [utc(2022, 4, 29), utc(2022, 5, 31), utc(2023, 4, 28)]),
        ("0 0 0 ? * 4#2", [utc(2022, 1, 13), utc(2022, 2, 10), utc(2022, 3, 10)]),
        ("0 0 0 ? * 6L", [utc(2022, 1, 29), utc(2022, 2, 26), utc(2022, 3, 26)]),
        # Year: a single year ends the schedule; ? and */n are years too.
        ("0 0 0 1 1 ? 2023", [utc(2023, 1, 1)]),
        ("0 0 0 1 1 ? ?", [utc(2023, 1, 1), utc(2024, 1, 1), utc(2025, 1, 1)]),
        ("0 0 0 1 1 ? 2023-2024 UTC", [utc(2023, 1, 1), utc(2024, 1, 1)]),
    ],
)
def test_next_runs(frequency, expected):
    assert runs(frequency) == expected


def test_rate_counts_from_creation_not_from_the_last_run():
    parsed = schedule.parse("rate(5m)", now=NOW)
    # Asked late (the console was down), the next run is the next point of the grid, not now + 5 min.
    assert parsed.next_after(NOW + timedelta(minutes=12, seconds=1), created=NOW) == utc(2022, 1, 1, 0, 15)


def test_daylight_saving_is_the_zone_libraries_job():
    # Europe/Berlin moves to summer time on 2022-03-27: 02:30 local does not exist that day.
    found = runs("0 30 9 * * ? * Europe/Berlin", 2, now=utc(2022, 3, 26, 12))
    assert found == [utc(2022, 3, 27, 7, 30), utc(2022, 3, 28, 7, 30)]


@pytest.mark.parametrize(
    ("frequency", "code", "timeout", "now"),
    [
        ("", "MissingParam.Frequency", 0, NOW),
        ("   ", "MissingParam.Frequency", 0, NOW),
        # rate: grammar, 60 s to 7 days, longer than the timeout.
        ("rate(5)", "InvalidRateExpression", 0, NOW),
        ("rate(5w)", "InvalidRateExpression", 0, NOW),
        ("rate(-5m)", "InvalidRateExpression", 0, NOW),
        ("rate(5m", "InvalidRateExpression", 0, NOW),
        ("rate(59s)", "InvalidRateExpression", 0, NOW),
        ("rate(8d)", "RateFrequencyTooLarge", 0, NOW),
        ("rate(604801s)", "RateFrequencyTooLarge", 0, NOW),
        ("rate(1001d)", "RateFrequencyTooLarge", 0, NOW),
        ("rate(2m)", "InvalidRateExpression", 120, NOW),
        # at: grammar, a real date, not past, zones.
        ("at(2022-06-06)", "InvalidAtExpression", 0, NOW),
        ("at(2022-13-06 10:00:00)", "InvalidAtExpression", 0, NOW),
        ("at(2022/06/06 10:00:00)", "InvalidAtExpression", 0, NOW),
        ("at(2022-06-06 13:15:30 Asia/Shanghai)", "AtExpressionExpired", 0, utc(2026, 1, 1)),
        ("at(2021-12-31 23:59:59)", "AtExpressionExpired", 0, NOW),
        ("at(2022-06-06 13:15:30 Mars/Olympus)", "TimezoneInformationCorrupt", 0, NOW),
        ("at(2022-06-06 13:15:30 CEST)", "InvalidParam.Frequency", 0, NOW),
        # GMT offsets: no leading zero in the hour, hour 0-14, minutes 00-59.
        ("0 0 0 * * ? 2022 GMT+08:00", "InvalidGMTOffsetForTimezone", 0, NOW),
        ("0 0 0 * * ? 2022 GMT+15:00", "InvalidGMTOffsetForTimezone", 0, NOW),
        ("0 0 0 * * ? 2022 GMT+8:60", "InvalidGMTOffsetForTimezone", 0, NOW),
        ("0 0 0 * * ? 2022 GMT+8", "InvalidGMTOffsetForTimezone", 0, NOW),
        # cron: field count, ranges, ? / L / W / # placement, both day fields, past years, intervals.
        ("0 0 12 * *", "BadCronExpression", 0, NOW),
        ("0 0 12 * * ? 2022 UTC extra", "BadCronExpression", 0, NOW),
        ("0 0 12 * * ? UTC Asia/Shanghai", "BadCronExpression", 0, NOW),
        ("0 0 0 1 1 ? 1969", "BadCronExpression", 0, NOW),
        ("0 0 0 1 1 ? 2100", "BadCronExpression", 0, NOW),
        ("0 0 0 30 2 ?", "CronExpressionExpired", 0, NOW),
        ("0 0 0 ? * 5#9", "BadCronExpression", 0, NOW),
        ("60 0 12 * * ?", "BadCronExpression", 0, NOW),
        ("0 60 12 * * ?", "BadCronExpression", 0, NOW),
        ("0 0 24 * * ?", "BadCronExpression", 0, NOW),
        ("0 0 0 32 * ?", "BadCronExpression", 0, NOW),
        ("0 0 0 ? 13 *", "BadCronExpression", 0, NOW),
        ("0 0 0 ? * 8", "BadCronExpression", 0, NOW),
        ("0 0 0 ? * 0", "BadCronExpression", 0, NOW),
        ("? 0 0 * * ?", "BadCronExpression", 0, NOW),
        ("0 0 L * * ?", "BadCronExpression", 0, NOW),
        ("0 0 0 4#2 * ?", "BadCronExpression", 0, NOW),
        ("0 0 0 1 * MON", "BadCronExpression", 0, NOW),
        ("0 0 0 ? * ?", "BadCronExpression", 0, NOW),
        ("0 15 10 ? * * 2022 Asia/Shanghai", "CronExpressionExpired", 0, utc(2026, 1, 1)),
        ("0 0/5 14 * 10 ? 2022/2 UTC", "CronExpressionExpired", 0, utc(2099, 11, 1)),
        ("* * * * * ?", "BadCronExpression", 0, NOW),
        ("0/5 * * * * ?", "BadCronExpression", 0, NOW),
        ("0 * * * * ?", "BadCronExpression", 60, NOW),
    ],
)
def test_refusals(frequency, code, timeout, now):
    with pytest.raises(FrequencyError) as raised:
        schedule.parse(frequency, now=now, timeout=timeout)
    assert raised.value.code == code
    assert raised.value.message


def test_a_test_minimum_allows_short_rates():
    parsed = schedule.parse("rate(2s)", now=NOW, timeout=1, min_rate_seconds=1)
    assert parsed.next_after(NOW, created=NOW) == NOW + timedelta(seconds=2)
    with pytest.raises(FrequencyError):
        schedule.parse("rate(2s)", now=NOW, timeout=1)


def test_a_cron_every_ten_seconds_is_the_shortest_allowed():
    assert runs("0/10 * * * * ?", 2) == [NOW + timedelta(seconds=10), NOW + timedelta(seconds=20)]


def test_a_stepped_year_skips_years():
    assert runs("0 0/5 14 * 10 ? 2022/2 UTC", 1, now=utc(2026, 12, 1)) == [utc(2028, 10, 1, 14, 0)]


@pytest.mark.parametrize(
    ("choice", "text", "frequency"),
    [
        ("once", "rate(5m)", ""),
        ("", "5m", ""),
        ("rate", "5m", "rate(5m)"),
        ("rate", " rate(5m) ", "rate(5m)"),
        ("at", "2026-12-01 10:00:00 Asia/Tokyo", "at(2026-12-01 10:00:00 Asia/Tokyo)"),
        ("at", "at(2026-12-01 10:00:00)", "at(2026-12-01 10:00:00)"),
        ("cron", "0 0 12 * * ?", "0 0 12 * * ?"),
    ],
)
def test_the_console_form_may_leave_out_the_wrapper(choice, text, frequency):
    assert schedule.frequency_from_form(choice, text) == frequency


def test_the_console_form_refuses_a_schedule_without_a_value():
    with pytest.raises(FrequencyError) as refused:
        schedule.frequency_from_form("cron", "  ")
    assert refused.value.code == "MissingParam.Frequency"


CRON_ATOMS = (
    "* ? L W LW # / - , 0 1 5 7 15 31 59 60 2022 MON JAN 6L 4#2 0/5 10-11 2022/2 UTC GMT+8:00 Asia/Shanghai x"
).split()


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.text(max_size=40),
        st.lists(st.sampled_from(CRON_ATOMS), min_size=1, max_size=9).map(" ".join),
        st.builds(
            "rate({}{})".format, st.integers(-5, 10**7), st.sampled_from(["s", "m", "h", "d", "x", ""])
        ),
        st.builds("at({})".format, st.text(max_size=30)),
    )
)
def test_any_input_is_a_schedule_or_a_clear_refusal(text):
    try:
        parsed = schedule.parse(text, now=NOW, timeout=10)
    except FrequencyError as error:
        assert error.code and error.message
    else:
        assert parsed.next_after(NOW, created=NOW) is not None


@pytest.mark.parametrize(
    ("frequency", "first"),
    [
        # Reference 4.3: at() without a zone is UTC.
        ("at(2022-01-01 08:00:00)", utc(2022, 1, 1, 8)),
        # Reference 4.3 runs a cron without a zone in the instance's zone: a schedule read alone is UTC,
        # the zone of an instance that reported none (the per-instance zones: test_schedule_zone.py).
        ("0 0 8 * * ?", utc(2022, 1, 1, 8)),
        ("0 0 8 * * ? 2022", utc(2022, 1, 1, 8)),
        # With a zone, the zone rules.
        ("0 0 8 * * ? 2022 Asia/Shanghai", utc(2022, 1, 2, 0)),
        ("0 0 8 * * ? GMT+8:00", utc(2022, 1, 2, 0)),
        ("0 0 8 * * ? 2022 GMT-1:30", utc(2022, 1, 1, 9, 30)),
    ],
)
def test_default_zone_rule(frequency, first):
    assert runs(frequency, 1) == [first]

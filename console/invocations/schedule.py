"""The ``Frequency`` of periodic tasks (RepeatMode=Period): parsing, validation and the next run time.
Pure functions, no I/O.

Three forms, exactly as reference/cloud-assistant-api.md section 4.3 gives them:

- ``rate(<n><s|m|h|d>)``: a fixed interval from the task's creation (the first run one interval after
  it), at least the configured minimum (60 s) and at most 7 days, longer than the task's timeout;
- ``at(yyyy-MM-dd HH:mm:ss [tz])``: once, UTC when no zone is given; a moment already past is refused;
- Quartz-style cron with seconds: ``sec min hour day-of-month month day-of-week [year] [tz]``, day of
  week 1-7 meaning Monday-Sunday, ``?`` in one of the day fields, ``L``, ``W``, ``LW`` and ``#``.

Zones: an IANA name containing ``/``, ``GMT+H:MM``/``GMT-H:MM`` (no leading zero in the hour), ``UTC``
or ``GMT``. A cron without a zone runs in each target instance's own zone, as the original does: the zone
the agent reports in its hello (``Instance.time_zone``), UTC while it is unknown (an agent that predates
the report, or a name this server cannot read). ``Schedule.in_zone`` gives the schedule as it runs on one
instance; the services keep a task's next run as the earliest over its instances' zones.

``croniter`` does the date arithmetic; this module only translates the Quartz syntax into croniter's
(``6L`` -> ``L6``, ``?`` in the year -> ``*``) and adds what croniter lacks (``LW``: the last weekday of
the month, found from croniter's last day of the month). Every refusal is a ``FrequencyError`` whose
``code`` is the original agent's error name (InvalidRateExpression, AtExpressionExpired, ...); the API
answers them as ``InvalidParam.Frequency``.
"""

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

MAX_RATE = timedelta(days=7)
MIN_CRON_INTERVAL = timedelta(seconds=10)
CRON_INTERVAL_SAMPLES = 24  # consecutive runs looked at to find a cron's shortest interval

RATE_RE = re.compile(r"rate\s*\(\s*(\d+)\s*([smhd])\s*\)", re.IGNORECASE)
AT_RE = re.compile(r"at\s*\(\s*(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:\s+(\S+))?\s*\)", re.IGNORECASE)
GMT_RE = re.compile(r"GMT([+-])([0-9]|1[0-4]):([0-5][0-9])")
# The agent's year test: a year field is *, ?, */n, or anything holding a year 1970-2099 (e.g. 2022/2).
YEAR_RE = re.compile(r"^\*$|^\?$|19[789][0-9]|20[0-9]{2}|^\*/(\d+)$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
FIELD_NAMES = ("second", "minute", "hour", "day-of-month", "month", "day-of-week", "year")


class FrequencyError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Schedule:
    """A parsed Frequency. ``next_after`` gives the first run strictly after a moment (None: no more)."""

    kind: str  # "rate" | "at" | "cron"
    expression: str
    zone: tzinfo = UTC
    interval: timedelta | None = None  # rate
    at: datetime | None = None  # at, aware
    cron: str = ""  # cron, in croniter's syntax
    last_weekday: bool = False  # cron day-of-month LW
    zone_given: bool = True  # False: a cron without a zone, run in each instance's zone (in_zone)

    @property
    def follows_instance_zone(self) -> bool:
        return self.kind == "cron" and not self.zone_given

    def in_zone(self, instance_zone: str) -> "Schedule":
        """The schedule as it runs on an instance that reported ``instance_zone``: a cron without a zone
        takes it (UTC when empty or unreadable); any other schedule is unchanged."""
        if not self.follows_instance_zone:
            return self
        return replace(self, zone=zone_of_instance(instance_zone))

    def next_after(self, moment: datetime, *, created: datetime) -> datetime | None:
        """The next run after ``moment`` (aware, UTC in, UTC out). A rate counts from ``created``: runs
        are ``created + k * interval`` (k >= 1), whatever the previous run took."""
        if self.kind == "rate":
            assert self.interval is not None
            elapsed = max(moment - created, timedelta(0))
            return created + (elapsed // self.interval + 1) * self.interval
        if self.kind == "at":
            assert self.at is not None
            return self.at.astimezone(UTC) if self.at > moment else None
        return self._cron_next(moment)

    def _cron_next(self, moment: datetime) -> datetime | None:
        local = moment.astimezone(self.zone)
        try:
            if not self.last_weekday:
                following: datetime = croniter(self.cron, local, second_at_beginning=True).get_next(datetime)
                return following.astimezone(UTC)
            # LW: croniter gives each month's last day (L); step back to Friday when it is a weekend.
            # Start a few days early: a last day after `moment` may move back to before it, or not.
            days = croniter(self.cron, local - timedelta(days=3), second_at_beginning=True)
            for _ in range(24):
                candidate: datetime = days.get_next(datetime)
                candidate -= timedelta(days=max(0, candidate.weekday() - 4))
                if candidate > local:
                    return candidate.astimezone(UTC)
            return None
        except CroniterBadDateError:
            return None  # no run left (a past year)

    def intervals(self, start: datetime, count: int) -> list[timedelta]:
        """The gaps between the first ``count`` runs after ``start``."""
        runs: list[datetime] = []
        moment = start
        while len(runs) < count:
            following = self.next_after(moment, created=start)
            if following is None:
                break
            runs.append(following)
            moment = following
        return [later - earlier for earlier, later in zip(runs, runs[1:], strict=False)]


def zone_of_instance(name: str) -> tzinfo:
    """An instance's reported zone; UTC when it is unknown ("") or not a zone this server can read."""
    try:
        return parse_zone(name) if name else UTC
    except FrequencyError:
        return UTC


def parse_zone(text: str) -> tzinfo:
    if text in ("UTC", "GMT"):
        return UTC
    if text.upper().startswith("GMT"):
        match = GMT_RE.fullmatch(text)
        if match is None:
            raise FrequencyError(
                "InvalidGMTOffsetForTimezone",
                f"{text!r} is not a GMT offset: write GMT+H:MM or GMT-H:MM, hour 0-14 without a leading "
                "zero, minutes 00-59 (e.g. GMT+8:00).",
            )
        sign, hours, minutes = match.groups()
        offset = timedelta(hours=int(hours), minutes=int(minutes))
        return timezone(-offset if sign == "-" else offset, text)
    if "/" not in text:
        raise FrequencyError(
            "InvalidParam.Frequency",
            f"{text!r} is not a time zone: use an IANA name such as Asia/Shanghai, GMT+8:00 or UTC.",
        )
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise FrequencyError("TimezoneInformationCorrupt", f"Unknown time zone {text!r}.") from error


def parse(
    frequency: str,
    *,
    now: datetime,
    timeout: int = 0,
    min_rate_seconds: int = 60,
) -> Schedule:
    """Parse and validate ``frequency`` for a task created at ``now`` whose runs time out after
    ``timeout`` seconds. Raises FrequencyError."""
    text = frequency.strip()
    if not text:
        raise FrequencyError("MissingParam.Frequency", "RepeatMode=Period needs a Frequency.")
    lowered = text.lower()
    if lowered.startswith("rate"):
        return _parse_rate(text, timeout=timeout, min_rate_seconds=min_rate_seconds)
    if lowered.startswith("at"):
        return _parse_at(text, now=now)
    return _parse_cron(text, now=now, timeout=timeout)


def _parse_rate(text: str, *, timeout: int, min_rate_seconds: int) -> Schedule:
    match = RATE_RE.fullmatch(text)
    if match is None:
        raise FrequencyError(
            "InvalidRateExpression", f"{text!r} is not a rate: write rate(<n><s|m|h|d>), e.g. rate(5m)."
        )
    interval = timedelta(seconds=int(match.group(1)) * UNIT_SECONDS[match.group(2).lower()])
    if interval > MAX_RATE:
        raise FrequencyError("RateFrequencyTooLarge", f"{text}: the interval can be at most 7 days.")
    if interval < timedelta(seconds=min_rate_seconds):
        raise FrequencyError(
            "InvalidRateExpression", f"{text}: the interval must be at least {min_rate_seconds} seconds."
        )
    if interval <= timedelta(seconds=timeout):
        raise FrequencyError(
            "InvalidRateExpression",
            f"{text}: the interval must be longer than the task's timeout ({timeout} s).",
        )
    return Schedule(kind="rate", expression=text, interval=interval)


def _parse_at(text: str, *, now: datetime) -> Schedule:
    match = AT_RE.fullmatch(text)
    if match is None:
        raise FrequencyError(
            "InvalidAtExpression",
            f"{text!r} is not an at expression: write at(yyyy-MM-dd HH:mm:ss [time zone]), "
            "e.g. at(2026-12-01 10:00:00 Asia/Tokyo).",
        )
    zone = parse_zone(match.group(2)) if match.group(2) else UTC
    try:
        moment = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone)
    except ValueError as error:
        raise FrequencyError("InvalidAtExpression", f"{text}: {error}.") from error
    if moment <= now:
        raise FrequencyError("AtExpressionExpired", f"{text} has already passed; the task would never run.")
    return Schedule(kind="at", expression=text, zone=zone, at=moment)


def _split_cron(text: str) -> tuple[list[str], tzinfo | None]:
    """The seven Quartz fields and the zone (None when not given: the instance's zone applies)."""
    fields = text.split()
    if len(fields) == 6:
        return [*fields, "*"], None
    if len(fields) == 7:
        if YEAR_RE.search(fields[6]):
            return fields, None
        if fields[6].isdigit():
            raise FrequencyError("BadCronExpression", f"{text}: the year {fields[6]} is not in 1970-2099.")
        return [*fields[:6], "*"], parse_zone(fields[6])
    if len(fields) == 8:
        if not YEAR_RE.search(fields[6]):
            raise FrequencyError("BadCronExpression", f"{text}: {fields[6]!r} is not a year.")
        return fields[:7], parse_zone(fields[7])
    raise FrequencyError(
        "BadCronExpression",
        f"{text!r}: a cron expression has 6 to 8 fields: second minute hour day-of-month month "
        "day-of-week [year] [time zone], e.g. 0 15 10 ? * * 2022 Asia/Shanghai.",
    )


def _translate(fields: list[str], text: str) -> tuple[str, bool]:
    """Quartz fields -> croniter's (same order with second_at_beginning), and whether DoM is LW."""
    second, minute, hour, dom, month, dow, year = (field.upper() for field in fields)
    for name, value in zip(FIELD_NAMES, (second, minute, hour, dom, month, dow, year), strict=True):
        if "?" in value and name not in ("day-of-month", "day-of-week", "year"):
            raise FrequencyError("BadCronExpression", f"{text}: '?' is allowed only in the day fields.")
        if re.search(r"[LW]", value) and name not in ("day-of-month", "day-of-week", "month"):
            raise FrequencyError("BadCronExpression", f"{text}: L and W are allowed only in the day fields.")
        if "#" in value and name != "day-of-week":
            raise FrequencyError("BadCronExpression", f"{text}: '#' is allowed only in the day of week.")
    restricted = [value for value in (dom, dow) if value not in ("*", "?")]
    if len(restricted) == 2:
        raise FrequencyError(
            "BadCronExpression",
            f"{text}: give either a day of month or a day of week, and '?' in the other.",
        )
    if dom == "?" and dow == "?":
        raise FrequencyError("BadCronExpression", f"{text}: only one of the day fields may be '?'.")
    if re.search(r"(?<![#/\d])0+(?!\d)", dow):
        raise FrequencyError("BadCronExpression", f"{text}: days of the week are 1-7 (Monday-Sunday).")
    last_weekday = dom == "LW"
    if last_weekday:
        dom = "L"
    dow = re.sub(r"^(\d)L$", r"L\1", dow)
    if dow == "L":
        dow = "7"  # the last day of the week: Sunday, with 1 = Monday
    year = "*" if year == "?" else year
    return " ".join((second, minute, hour, dom, month, dow, year)), last_weekday


def _parse_cron(text: str, *, now: datetime, timeout: int) -> Schedule:
    fields, given_zone = _split_cron(text)
    # Checked in UTC when zone-less: an instance's zone only shifts the runs.
    zone = UTC if given_zone is None else given_zone
    expression, last_weekday = _translate(fields, text)
    try:
        croniter(expression, now.astimezone(zone), second_at_beginning=True)
    except (CroniterBadCronError, ValueError, KeyError) as error:
        raise FrequencyError(
            "BadCronExpression", f"{text!r} is not a valid cron expression ({error})."
        ) from error
    schedule = Schedule(
        kind="cron",
        expression=text,
        zone=zone,
        cron=expression,
        last_weekday=last_weekday,
        zone_given=given_zone is not None,
    )
    if schedule.next_after(now, created=now) is None:
        raise FrequencyError(
            "CronExpressionExpired", f"{text} has no run left after {now:%Y-%m-%d %H:%M:%S} UTC."
        )
    gaps = schedule.intervals(now, CRON_INTERVAL_SAMPLES)
    shortest = min(gaps, default=None)
    if shortest is not None and shortest < MIN_CRON_INTERVAL:
        raise FrequencyError("BadCronExpression", f"{text}: runs must be at least 10 seconds apart.")
    if shortest is not None and shortest <= timedelta(seconds=timeout):
        raise FrequencyError(
            "BadCronExpression",
            f"{text}: runs {int(shortest.total_seconds())} s apart must be longer than the task's timeout "
            f"({timeout} s).",
        )
    return schedule


FORM_CHOICES = (
    ("once", "Once"),
    ("rate", "Every interval (rate)"),
    ("at", "Once at a time (at)"),
    ("cron", "Cron"),
)
SCHEDULE_CHOICES = tuple(value for value, _ in FORM_CHOICES)


def frequency_from_form(choice: str, text: str) -> str:
    """The Frequency a console form means: "" for a one-time run; a rate or at value may be typed with
    or without its ``rate(...)``/``at(...)`` wrapper (``5m``, ``2026-12-01 10:00:00 Asia/Tokyo``).
    A schedule chosen without a value is refused, never run once."""
    text = text.strip()
    if choice not in SCHEDULE_CHOICES or choice == "once":
        return ""
    if not text:
        raise FrequencyError("MissingParam.Frequency", f"Give the {choice} schedule's Frequency.")
    if choice in ("rate", "at") and text and not text.lower().startswith(choice):
        return f"{choice}({text})"
    return text

"""The run options of the console's two run pages (ad hoc and a saved command's), read from the posted
form as the keyword arguments of ``invocation_run_command`` / ``invocation_invoke_command``. The services
check every value (console/invocations/run_options.py); this only names the form's fields."""

from collections.abc import Iterable
from typing import Any

from django.http import QueryDict

from console.invocations import schedule

PARAM_PREFIX = "param."

# Schedule choices beyond the periodic ones of schedule.FORM_CHOICES: a reboot task's RepeatMode.
REBOOT_SCHEDULES = {"next-reboot": "NextRebootOnly", "every-reboot": "EveryReboot"}
REBOOT_CHOICES = (
    ("next-reboot", "After the next reboot (once)"),
    ("every-reboot", "After every reboot"),
)
FIELDS = ("termination_mode", "container_id", "container_name", "max_concurrency", "max_errors")
EMPTY = dict.fromkeys(FIELDS, "")


def options_form(post: QueryDict) -> dict[str, str]:
    """The options as typed, to show the form again after a refusal."""
    return {name: post.get(name, "").strip() for name in FIELDS}


def options_arguments(form: dict[str, str], schedule_choice: str) -> dict[str, str]:
    """Keyword arguments for the run services: the options, and RepeatMode for a reboot schedule (a
    periodic one is given by its Frequency)."""
    return {
        **{name: form.get(name, "") for name in FIELDS},
        "repeat_mode": REBOOT_SCHEDULES.get(schedule_choice, ""),
    }


def invoke_form(post: QueryDict, parameter_names: Iterable[str]) -> dict[str, Any]:
    """A saved or common command's run form as posted: instances, one value per parameter, this run's
    overrides and its schedule (kept as typed, to show the form again after a refusal)."""
    return {
        "selected": post.getlist("instance_ids"),
        # Empty inputs are left out of the run (invoke_arguments): the name then renders as "" or its
        # default, and at most 10 values may be passed.
        "values": {name: post.get(PARAM_PREFIX + name, "") for name in parameter_names},
        "timeout": post.get("timeout", "").strip(),
        "working_dir": post.get("working_dir", "").strip(),
        "username": post.get("username", "").strip(),
        "schedule": post.get("schedule", "once"),
        "frequency": post.get("frequency", "").strip(),
    }


def invoke_arguments(form: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of ``invocation_invoke_command`` from ``invoke_form``; raises
    ``schedule.FrequencyError`` for a schedule that cannot be read."""
    return {
        "instance_ids": form["selected"],
        "timeout": form["timeout"] or None,
        "working_dir": form["working_dir"] or None,
        "username": form["username"],
        "parameters": {name: value for name, value in form["values"].items() if value != ""},
        "frequency": schedule.frequency_from_form(form["schedule"], form["frequency"]),
    }

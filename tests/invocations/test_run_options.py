"""The run options' pure checks (console/invocations/run_options.py), one row per rule."""

import pytest

from console.errors import ServiceError
from console.invocations import run_options as ro

HEX = "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("repeat_mode", "frequency", "expected"),
    [
        ("", "", "Once"),
        ("Once", "", "Once"),
        ("once", "", "Once"),
        ("NextRebootOnly", "", "NextRebootOnly"),
        ("nextrebootonly", "", "NextRebootOnly"),
        ("EveryReboot", "", "EveryReboot"),
        ("DryRun", "", "DryRun"),
        ("dryrun", "", "DryRun"),
        ("Once", "rate(5m)", "Period"),  # a Frequency makes it Period whatever RepeatMode says (4.2)
        ("EveryReboot", "rate(5m)", "Period"),
        ("", "rate(5m)", "Period"),
        ("Period", "rate(5m)", "Period"),
    ],
)
def test_repeat_mode_accepted(repeat_mode, frequency, expected):
    assert ro.check_repeat_mode(repeat_mode, frequency) == expected


@pytest.mark.parametrize(
    ("repeat_mode", "code", "status"),
    [
        ("Period", "MissingParam.Frequency", 403),
        ("period", "MissingParam.Frequency", 403),
        ("Sometimes", "InvalidParameter.RepeatMode", 400),
        ("Reboot", "InvalidParameter.RepeatMode", 400),
    ],
)
def test_repeat_mode_refused(repeat_mode, code, status):
    with pytest.raises(ServiceError) as refused:
        ro.check_repeat_mode(repeat_mode, "")
    assert (refused.value.code, refused.value.status) == (code, status)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("", "ProcessTree"),
        ("Process", "Process"),
        ("ProcessTree", "ProcessTree"),
        ("processtree", "ProcessTree"),
    ],
)
def test_termination_mode_accepted(given, expected):
    assert ro.check_termination_mode(given) == expected


@pytest.mark.parametrize("given", ["Kill", "Tree", "Process Tree", "0"])
def test_termination_mode_refused(given):
    with pytest.raises(ServiceError, match="Process or ProcessTree") as refused:
        ro.check_termination_mode(given)
    assert refused.value.code == "InvalidParameter.TerminationMode"


@pytest.mark.parametrize(
    ("container_id", "container_name", "expected"),
    [
        ("", "", ("", "")),
        (HEX, "", (HEX, "")),
        ("docker://" + HEX, "", ("docker://" + HEX, "")),
        ("containerd://" + HEX, "", ("containerd://" + HEX, "")),
        ("cri-o://" + HEX, "", ("cri-o://" + HEX, "")),
        ("", "web", ("", "web")),
        ("", "my_app.v2-1", ("", "my_app.v2-1")),
        (HEX, "web", (HEX, "web")),
        (" " + HEX + " ", "", (HEX, "")),
    ],
)
def test_container_accepted(container_id, container_name, expected):
    assert ro.check_container(container_id, container_name, "RunShellScript") == expected


@pytest.mark.parametrize(
    ("container_id", "container_name", "command_type", "code"),
    [
        ("abc", "", "RunShellScript", "InvalidParameter.ContainerId"),
        ("docker://abc", "", "RunShellScript", "InvalidParameter.ContainerId"),
        (HEX.upper(), "", "RunShellScript", "InvalidParameter.ContainerId"),
        (HEX + "0", "", "RunShellScript", "InvalidParameter.ContainerId"),
        ("podman://" + HEX, "", "RunShellScript", "InvalidParameter.ContainerId"),
        ("", "-web", "RunShellScript", "InvalidParameter.ContainerName"),
        ("", "web app", "RunShellScript", "InvalidParameter.ContainerName"),
        ("", "w" * 256, "RunShellScript", "InvalidParameter.ContainerName"),
        (HEX, "", "RunPowerShellScript", "InvalidParameter.ContainerId"),
        ("", "web", "RunBatScript", "InvalidParameter.ContainerName"),
    ],
)
def test_container_refused(container_id, container_name, command_type, code):
    with pytest.raises(ServiceError) as refused:
        ro.check_container(container_id, container_name, command_type)
    assert refused.value.code == code


@pytest.mark.parametrize(
    ("value", "minimum", "expected"),
    [
        ("", 1, ""),
        (None, 1, ""),
        ("1", 1, "1"),
        (" 10 ", 1, "10"),
        (3, 1, "3"),
        ("0", 0, "0"),
        ("1%", 1, "1%"),
        ("100%", 0, "100%"),
        ("007", 1, "7"),
    ],
)
def test_rate_accepted(value, minimum, expected):
    assert ro.check_rate(value, "MaxConcurrency", minimum=minimum) == expected


@pytest.mark.parametrize(
    ("value", "minimum"),
    [("0", 1), ("-1", 0), ("0%", 0), ("101%", 1), ("1.5", 1), ("ten", 1), ("%", 1), ("5 %", 1), ("9" * 7, 1)],
)
def test_rate_refused(value, minimum):
    with pytest.raises(ServiceError) as refused:
        ro.check_rate(value, "MaxErrors", minimum=minimum)
    assert refused.value.code == "InvalidParameter.MaxErrors"


@pytest.mark.parametrize(
    ("value", "targets", "expected"),
    [("", 3, None), ("1", 3, 1), ("5", 3, 5), ("50%", 3, 2), ("1%", 3, 1), ("100%", 7, 7), ("34%", 3, 2)],
)
def test_concurrency_limit(value, targets, expected):
    assert ro.concurrency_limit(value, targets) == expected


@pytest.mark.parametrize(
    ("value", "targets", "expected"),
    [("", 3, None), ("0", 3, 0), ("2", 3, 2), ("50%", 3, 1), ("10%", 3, 0), ("100%", 4, 4), ("34%", 3, 1)],
)
def test_errors_allowed(value, targets, expected):
    assert ro.errors_allowed(value, targets) == expected

"""What a console form says when a service refuses: the service's message (the API's, kept as the
original words), followed by what to do next when the message alone does not say it."""

from console.errors import ServiceError

# Error code -> the next step, for refusals whose message states the rule but not the way out.
NEXT_STEP = {
    "Forbidden.RAM": (
        "Ask an administrator of the account for a policy that allows it (Users and permissions shows "
        "your policies, and its simulator tells which action and resource are missing)."
    ),
    "InvalidInstance.NotFound": "Reload the page: the instance may have been deregistered or moved.",
    "InvalidCommandId.NotFound": "Reload the command list: the command may have been deleted.",
}


def form_error(error: ServiceError) -> str:
    message = getattr(error, "message", str(error))
    step = NEXT_STEP.get(getattr(error, "code", ""), "")
    return f"{message} {step}" if step and step not in message else message

import json

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from console.errors import ServiceError
from console.fleet import services


@csrf_exempt
@require_POST
def register(request: HttpRequest) -> JsonResponse:
    """Agent registration: trade an activation code for an instance id and secret (docs/agent-protocol.md)."""
    try:
        body = json.loads(request.body or b"{}")
        if not isinstance(body, dict):
            raise ValueError("not an object")
    except ValueError:
        return JsonResponse(
            {"Code": "MalformedBody", "Message": "The body must be a JSON object."}, status=400
        )
    fields = {
        "ActivationId": "activation_id",
        "ActivationCode": "activation_code",
        "RegionId": "region",
        "InstanceName": "instance_name",
        "Hostname": "hostname",
        "OsType": "os_type",
        "OsName": "os_name",
        "MachineId": "machine_id",
        "AgentVersion": "agent_version",
    }
    kwargs = {}
    for wire, name in fields.items():
        value = body.get(wire, "")
        if not isinstance(value, str):
            return JsonResponse(
                {"Code": "InvalidParameter", "Message": f"{wire} must be a string."}, status=400
            )
        kwargs[name] = value
    for required in ("ActivationId", "ActivationCode"):
        if not body.get(required):
            return JsonResponse(
                {"Code": f"MissingParameter.{required}", "Message": f"{required} is required."}, status=400
            )
    try:
        registration = services.instance_register(source_ip=request.META.get("REMOTE_ADDR", ""), **kwargs)
    except ServiceError as error:
        return JsonResponse({"Code": error.code, "Message": error.message}, status=error.status)
    return JsonResponse(
        {
            "InstanceId": registration.instance.id,
            "InstanceSecret": registration.secret,
            "RegionId": registration.instance.region,
        }
    )

import json

from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from console.errors import ServiceError
from console.fleet import services
from console.gateway import distribution

SHA256_HEADER = "X-Assist-Agent-SHA256"
VERSION_HEADER = "X-Assist-Agent-Version"


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


# --- distribution: what `curl -fsSL <console>/agent/install.sh | sudo sh -s -- ...` fetches (docs/install.md)


@require_GET
def agent_pyz(request: HttpRequest) -> FileResponse:
    """The agent as one zipapp (``python3 assist-agent.pyz``), built from the console's agent sources."""
    build = distribution.current_build()
    response = FileResponse(
        open(build.path, "rb"),  # noqa: SIM115 - FileResponse closes it
        as_attachment=True,
        filename=distribution.PYZ_NAME,
        content_type="application/octet-stream",
    )
    response[SHA256_HEADER] = build.sha256
    response[VERSION_HEADER] = build.version
    response["Cache-Control"] = "no-cache"
    return response


@require_GET
def agent_pyz_sha256(request: HttpRequest) -> HttpResponse:
    """``<sha256>  assist-agent.pyz``, the format ``sha256sum -c`` reads."""
    build = distribution.current_build()
    response = HttpResponse(
        f"{build.sha256}  {distribution.PYZ_NAME}\n", content_type="text/plain; charset=us-ascii"
    )
    response[VERSION_HEADER] = build.version
    response["Cache-Control"] = "no-cache"
    return response


def _script(request: HttpRequest, name: str) -> HttpResponse:
    server = request.build_absolute_uri("/").rstrip("/")
    response = HttpResponse(
        distribution.render_script(name, server), content_type="text/x-shellscript; charset=utf-8"
    )
    response["Cache-Control"] = "no-cache"
    return response


@require_GET
def install_script(request: HttpRequest) -> HttpResponse:
    return _script(request, "install.sh")


@require_GET
def uninstall_script(request: HttpRequest) -> HttpResponse:
    return _script(request, "uninstall.sh")

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


# --- leaving and self-update (docs/install.md, docs/agent-protocol.md "Self-update")


def _json_body(request: HttpRequest) -> dict | None:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


@csrf_exempt
@require_POST
def deregister(request: HttpRequest) -> JsonResponse:
    """``assist-agent deregister`` (uninstall.sh): the instance leaves, authenticated by its own secret."""
    body = _json_body(request)
    if body is None:
        return JsonResponse(
            {"Code": "MalformedBody", "Message": "The body must be a JSON object."}, status=400
        )
    instance_id, secret = body.get("InstanceId"), body.get("InstanceSecret")
    if not isinstance(instance_id, str) or not isinstance(secret, str) or not instance_id or not secret:
        return JsonResponse(
            {"Code": "MissingParameter", "Message": "InstanceId and InstanceSecret are required strings."},
            status=400,
        )
    try:
        instance = services.instance_leave(instance_id=instance_id, secret=secret)
    except ServiceError as error:
        return JsonResponse({"Code": error.code, "Message": error.message}, status=error.status)
    return JsonResponse({"InstanceId": instance.id})


@require_GET
def release_key(request: HttpRequest) -> HttpResponse:
    """The console's Ed25519 release public key (PEM); install.sh stores it for the agent."""
    from console.releases import signing

    response = HttpResponse(signing.public_key_pem(), content_type="application/x-pem-file")
    response["Cache-Control"] = "no-cache"
    return response


@require_GET
def release_download(request: HttpRequest, version: str) -> HttpResponse:
    """A release's zipapp, for an agent authenticated by its instance id and secret (headers), and only
    the release that instance is meant to run now."""
    from console.releases import selectors as release_selectors
    from console.releases import services as release_services

    instance = services.instance_authenticate(
        instance_id=request.headers.get("X-Assist-Instance-Id", ""),
        secret=request.headers.get("X-Assist-Instance-Secret", ""),
    )
    if instance is None:
        return JsonResponse(
            {"Code": "AuthFailed", "Message": "Unknown instance or wrong secret."}, status=403
        )
    release = release_selectors.release_for_download(instance=instance, version=version)
    if release is None:
        return JsonResponse(
            {
                "Code": "InvalidVersion.NotFound",
                "Message": f"Version {version} is not offered to this instance.",
            },
            status=404,
        )
    response = FileResponse(
        open(release_services.release_path(release), "rb"),  # noqa: SIM115 - FileResponse closes it
        as_attachment=True,
        filename=distribution.PYZ_NAME,
        content_type="application/octet-stream",
    )
    response[SHA256_HEADER] = release.sha256
    response[VERSION_HEADER] = release.version
    return response

"""Send file pages: the upload form, the list of transfers and a transfer's live results. Thin: the
service checks and writes; the upload handler streams the file to disk while hashing it."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from console.errors import NotFound, ServiceError
from console.files import selectors, services
from console.files import status as st
from console.files.uploads import HashingUploadHandler, ReceivedFile
from console.fleet import selectors as fleet_selectors
from console.tags.selectors import filter_by_tags
from console.web.auth import principal_of

# Error code (prefix) -> the form field it is about.
FIELD_OF_CODE = {
    "FileName": "name",
    "FileTargetDir": "target_dir",
    "FileMode": "mode",
    "InvalidParameter.FileOwner": "owner",
    "InvalidParameter.FileGroup": "group",
    "FileDesc": "description",
    "InvalidParameter.Timeout": "timeout",
    "FileSize": "file",
    "MissingParameter.Content": "file",
    "InstanceIds": "instances",
    "MissingParameter.InstanceId": "instances",
    "InvalidInstance": "instances",
}
FORM_SLACK = 1024 * 1024  # the other form fields and multipart framing around the file


def _field_of(code: str) -> str:
    for prefix, field in FIELD_OF_CODE.items():
        if code.startswith(prefix):
            return field
    return ""


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _form_context(request: HttpRequest, form: dict, errors: dict[str, str]) -> dict:
    principal = principal_of(request)
    return {
        "nav": "files",
        "instances": list(fleet_selectors.instances_visible(principal)),
        "form": form,
        "errors": errors,
        "max_bytes": settings.ASSIST_MAX_UPLOAD_BYTES,
    }


def _refuse(request: HttpRequest, form: dict, errors: dict[str, str], status: int = 400) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"errors": errors}, status=status)
    return render(request, "files/send.html", _form_context(request, form, errors), status=status)


@csrf_exempt  # the upload handlers must be set before anything reads the body; csrf_protect runs after
@login_required
def file_send_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > settings.ASSIST_MAX_UPLOAD_BYTES + FORM_SLACK:
            # Whoever reads the form later (the audit trail) gets its fields, but no file is written.
            request.upload_handlers = [HashingUploadHandler(request, 0)]
            message = f"The file is larger than the limit of {settings.ASSIST_MAX_UPLOAD_BYTES} bytes."
            return _refuse(request, _empty_form(), {"file": message}, status=413)
        handler = HashingUploadHandler(request, settings.ASSIST_MAX_UPLOAD_BYTES)
        request.upload_handlers = [handler]
        try:
            return _send(request)
        finally:
            handler.cleanup()
    if request.method != "GET":
        return HttpResponse(status=405)
    form = _empty_form()
    form["selected"] = request.GET.getlist("instance")  # preselected, as from the instance page's "Send file"
    return render(request, "files/send.html", _form_context(request, form, {}))


def _empty_form() -> dict:
    return {
        "name": "",
        "target_dir": "/tmp",  # noqa: S108 - a suggestion in the form, not a path the console uses
        "owner": "root",
        "group": "root",
        "mode": "0644",
        "overwrite": False,
        "description": "",
        "timeout": "60",
        "selected": [],
        "tag": "",
    }


def _instances_tagged(request: HttpRequest, tag: str) -> list[str]:
    """Ids of the visible instances carrying ``key=value`` (or ``key`` with any value)."""
    principal = principal_of(request)
    key, _, value = tag.partition("=")
    wanted = {key.strip(): value.strip() if "=" in tag else None}
    instances = filter_by_tags(
        fleet_selectors.instances_visible(principal),
        account_id=principal.account_id,
        resource_type="managedinstance",
        wanted=wanted,
    )
    return list(instances.values_list("id", flat=True))


@csrf_protect
def _send(request: HttpRequest) -> HttpResponse:
    received = request.FILES.get("file")
    form = {
        "name": request.POST.get("name", "").strip(),
        "target_dir": request.POST.get("target_dir", "").strip(),
        "owner": request.POST.get("owner", "").strip(),
        "group": request.POST.get("group", "").strip(),
        "mode": request.POST.get("mode", "").strip(),
        "overwrite": request.POST.get("overwrite") in ("on", "true", "1"),
        "description": request.POST.get("description", "").strip(),
        "timeout": request.POST.get("timeout", "").strip(),
        "selected": request.POST.getlist("instance_ids"),
        "tag": request.POST.get("tag", "").strip(),
    }
    if form["tag"]:
        tagged = _instances_tagged(request, form["tag"])
        if not tagged:
            return _refuse(
                request, form, {"instances": f"No instance you can see has the tag {form['tag']}."}
            )
        form["selected"] = list(dict.fromkeys([*form["selected"], *tagged]))
    if not isinstance(received, ReceivedFile):
        return _refuse(request, form, {"file": "Choose a file to send."})
    if received.too_large or received.upload is None:
        limit = settings.ASSIST_MAX_UPLOAD_BYTES
        return _refuse(request, form, {"file": f"The file is larger than the limit of {limit} bytes."})
    form["name"] = form["name"] or received.name
    try:
        transfer = services.file_send(
            principal=principal_of(request),
            instance_ids=form["selected"],
            name=form["name"],
            target_dir=form["target_dir"],
            upload=received.upload,
            content_type="Base64",
            owner=form["owner"],
            group=form["group"],
            mode=form["mode"],
            overwrite=form["overwrite"],
            description=form["description"],
            timeout=form["timeout"],
        )
    except ServiceError as error:
        audit = getattr(request, "audit", None)
        if audit is not None:
            audit.fail(error.code, error.message)
        return _refuse(request, form, {_field_of(error.code) or "form": error.message}, status=error.status)
    audit = getattr(request, "audit", None)
    if audit is not None:  # the console's SendFile, named as the API's is
        audit.name("SendFile", transfer.id, *form["selected"])
    url = reverse("file-transfer", kwargs={"transfer_id": transfer.id})
    if _wants_json(request):
        return JsonResponse({"InvokeId": transfer.id, "redirect": url})
    return redirect(url)


@login_required
def transfer_list(request: HttpRequest) -> HttpResponse:
    principal = principal_of(request)
    transfers = list(selectors.with_overall_status(selectors.transfers_visible(principal))[:100])
    return render(request, "files/list.html", {"nav": "files", "transfers": transfers})


@login_required
def transfer_detail(request: HttpRequest, transfer_id: str) -> HttpResponse:
    principal = principal_of(request)
    try:
        transfer = selectors.transfer_get(principal, transfer_id)
    except NotFound as error:
        raise Http404(error.message) from error
    results = list(
        selectors.results_visible(principal, [transfer.id])
        .select_related("instance")
        .order_by("instance__name", "instance_id")
    )
    overall = st.overall_status(r.status for r in results)
    context = {
        "nav": "files",
        "transfer": transfer,
        "results": results,
        "overall": overall,
        "final": st.is_final(overall) or overall == st.PARTIAL_FAILED,
        "done": sum(1 for r in results if st.is_final(r.status)),
    }
    template = "files/_results.html" if request.htmx else "files/detail.html"
    return render(request, template, context)

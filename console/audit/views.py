"""The account's audit trail: search with filters and server-side paging, and a JSON-lines export.
Read-only: there is no view that changes or deletes an event."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from console.audit import selectors
from console.audit.export import as_actiontrail
from console.errors import ServiceError
from console.iam.authz import AccessDenied
from console.web.auth import principal_of

PAGE_SIZE = 50
EXPORT_LIMIT = 100_000
_TIME_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")


def _time(value: str, name: str) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ServiceError(f"InvalidParameter.{name}", f"{name} must be a UTC time like 2025-01-31T13:45.")


def _filter(query: Any) -> selectors.EventFilter:
    result = query.get("result", "").strip()
    if result and result not in selectors.RESULTS:
        raise ServiceError("InvalidParameter.Result", "Result is one of success, error, denied.")
    source = query.get("source", "").strip()
    if source and source not in selectors.SOURCES:
        raise ServiceError("InvalidParameter.Source", "Source is one of " + ", ".join(selectors.SOURCES))
    return selectors.EventFilter(
        since=_time(query.get("since", ""), "Since"),
        until=_time(query.get("until", ""), "Until"),
        user=query.get("user", "").strip(),
        event=query.get("event", "").strip(),
        result=result,
        source=source,
        resource=query.get("resource", "").strip(),
        access_key=query.get("access_key", "").strip(),
    )


def _page(value: str) -> int:
    try:
        return max(1, int(value))
    except ValueError:
        return 1


@login_required
@require_GET
def audit_list(request: HttpRequest) -> HttpResponse:
    principal = principal_of(request)
    error = None
    page = _page(request.GET.get("page", "1"))
    try:
        wanted = _filter(request.GET)
    except ServiceError as exc:
        error, wanted = exc.message, selectors.EventFilter()
    try:
        found = selectors.events_search(principal, wanted)
    except AccessDenied as denied:
        raise Http404("No such page.") from denied
    events = [] if error else list(found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE + 1])
    for event in events:
        event.parameters_json = json.dumps(event.request_parameters, indent=2, ensure_ascii=False)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "events": events[:PAGE_SIZE],
        "page": page,
        "has_next": len(events) > PAGE_SIZE,
        "query": query.urlencode(),
        "form": request.GET,
        "results": selectors.RESULTS,
        "sources": selectors.SOURCES,
        "error": error,
        "nav": "audit",
    }
    return render(request, "audit/list.html", context, status=400 if error else 200)


def _lines(events: Any) -> Iterator[str]:
    for event in events.iterator(chunk_size=1000):
        yield json.dumps(as_actiontrail(event), ensure_ascii=False, separators=(",", ":")) + "\n"


@login_required
@require_GET
def audit_export(request: HttpRequest) -> HttpResponse:
    principal = principal_of(request)
    error = None
    try:
        wanted = _filter(request.GET)
    except ServiceError as exc:
        error, wanted = exc.message, selectors.EventFilter()
    try:
        events = selectors.events_search(principal, wanted)[:EXPORT_LIMIT]
    except AccessDenied as denied:
        raise Http404("No such page.") from denied
    if error:
        return HttpResponse(error + "\n", status=400, content_type="text/plain; charset=utf-8")
    response = StreamingHttpResponse(_lines(events), content_type="application/x-ndjson; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{principal.account_id}.jsonl"'
    return response

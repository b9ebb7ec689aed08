"""The two paging styles of Describe* operations (reference section 3, "Paging").

- Legacy: ``PageNumber`` (from 1, default 1) and ``PageSize`` (1-50, default 10); the response echoes
  PageNumber, PageSize and TotalCount.
- Token: as soon as ``NextToken`` or ``MaxResults`` is present, PageNumber/PageSize are ignored.
  ``MaxResults`` is 1-50 (default 10); the response has NextToken ("" on the last page), PageSize (the
  MaxResults used) and TotalCount.

Rows are ordered newest first by (created_at, id). A NextToken is an opaque cursor on that key, so
pages stay consistent while new rows arrive.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from django.db.models import Model, Q, QuerySet

from console.api.params import Params
from console.errors import ServiceError

M = TypeVar("M", bound=Model)

MAX_PAGE_SIZE = 50
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_NUMBER = 10**6


@dataclass(frozen=True)
class PageRequest:
    token_style: bool
    size: int
    number: int = 1
    next_token: str = ""


def page_request(params: Params) -> PageRequest:
    if "NextToken" in params or "MaxResults" in params:
        size = params.integer(
            "MaxResults",
            default=DEFAULT_PAGE_SIZE,
            minimum=1,
            maximum=MAX_PAGE_SIZE,
            code="InvalidParam.MaxResults",
        )
        return PageRequest(token_style=True, size=size, next_token=params.text("NextToken"))
    number = params.integer(
        "PageNumber", default=1, minimum=1, maximum=MAX_PAGE_NUMBER, code="InvalidParam.PageNumber"
    )
    size = params.integer(
        "PageSize", default=DEFAULT_PAGE_SIZE, minimum=1, maximum=MAX_PAGE_SIZE, code="InvalidParam.PageSize"
    )
    return PageRequest(token_style=False, size=size, number=number)


def _encode_token(row: Model) -> str:
    created_at: datetime = row.created_at  # type: ignore[attr-defined]
    raw = json.dumps([created_at.isoformat(), str(row.pk)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def _decode_token(token: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        created_at, pk = json.loads(raw)
        stamp = datetime.fromisoformat(created_at)
    except (binascii.Error, ValueError, TypeError) as error:
        raise ServiceError("InvalidParameter.NextToken", "The specified NextToken is not valid.") from error
    if stamp.tzinfo is None or not isinstance(pk, str):
        raise ServiceError("InvalidParameter.NextToken", "The specified NextToken is not valid.")
    return stamp, pk


def paginate(
    queryset: QuerySet[M], page: PageRequest, *, total: int | None = None
) -> tuple[list[M], dict[str, Any]]:
    """One page of ``queryset`` (a model with ``created_at``) and the paging fields to answer with.
    ``total``: the number of rows of ``queryset`` when the caller knows it more cheaply than a count."""
    if total is None:
        total = queryset.count()
    ordered = queryset.order_by("-created_at", "-pk")
    if not page.token_style:
        offset = (page.number - 1) * page.size
        rows = list(ordered[offset : offset + page.size])
        return rows, {"PageNumber": page.number, "PageSize": page.size, "TotalCount": total}
    if page.next_token:
        created_at, pk = _decode_token(page.next_token)
        ordered = ordered.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk))
    rows = list(ordered[: page.size + 1])
    more = len(rows) > page.size
    rows = rows[: page.size]
    next_token = _encode_token(rows[-1]) if more else ""
    return rows, {"NextToken": next_token, "PageSize": page.size, "TotalCount": total}

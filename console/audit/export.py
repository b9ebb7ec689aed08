"""An audit event as an ActionTrail event record (reference §5.4), for the JSON-lines export."""

from datetime import UTC
from typing import Any

from console.audit.models import AuditEvent


def as_actiontrail(event: AuditEvent) -> dict[str, Any]:
    record: dict[str, Any] = {
        "eventId": str(event.event_id),
        "eventVersion": "1",
        "eventTime": event.event_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventName": event.event_name,
        "eventType": event.event_type,
        "eventRW": event.event_rw,
        "eventCategory": "Management",
        "eventSource": event.source,
        "recipientAccountId": event.account_id,
        "requestId": event.request_id,
        "sourceIpAddress": event.source_ip,
        "userAgent": event.user_agent,
        "userIdentity": {
            "type": event.identity_type,
            "principalId": event.principal_id,
            "accountId": event.account_id,
            "accessKeyId": event.access_key_id,
            "userName": event.user_name,
        },
        "requestParameters": event.request_parameters,
        "referencedResources": event.additional.get("referencedResources", {}),
        "resources": event.resources,
        "result": event.result,
        "errorCode": event.error_code,
        "errorMessage": event.error_message,
        "additionalEventData": {"httpStatus": event.http_status, "allowed": event.allowed},
    }
    if "denied" in event.additional:
        record["additionalEventData"]["denied"] = event.additional["denied"]
    return record

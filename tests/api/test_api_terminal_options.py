"""StartTerminalSession's options as the SDKs send them: EncryptionOptions is one JSON string (the new SDK
writes ``{"Enabled":true,"Mode":"Auto"}``, the legacy one json.dumps with spaces); only Mode Auto exists
here, in any case, and what cannot be honoured is refused, creating no session."""

import pytest

from console.terminals.models import TerminalSession

pytestmark = pytest.mark.django_db


def start(rpc, instance_id: str, region: str, options: str):
    params = {"RegionId": region, "InstanceId.1": instance_id, "EncryptionOptions": options}
    return rpc.v3("StartTerminalSession", params)


@pytest.mark.parametrize(
    "options",
    [
        "",
        "{}",
        '{"Enabled":true,"Mode":"Auto"}',
        '{"Enabled": false}',
        '{"Enabled": true, "Mode": "auto"}',
        '{"Mode": "AUTO", "KMSKeyId": ""}',
    ],
)
def test_accepted_encryption_options(rpc, instance_id, region, options) -> None:
    response = start(rpc, instance_id, region, options)
    assert response.status_code == 200, response.content
    assert TerminalSession.objects.filter(pk=response.json()["SessionId"]).exists()


@pytest.mark.parametrize(
    "options",
    [
        '{"Enabled":true,"Mode":"Kms","KMSKeyId":"key-1"}',
        '{"Mode": "Auto", "KMSKeyId": "key-1"}',
        '{"Mode": 1}',
        '["Auto"]',
        "not json",
    ],
)
def test_refused_encryption_options(rpc, instance_id, region, options) -> None:
    response = start(rpc, instance_id, region, options)
    assert response.status_code == 400, response.content
    assert response.json()["Code"] == "InvalidParameter.EncryptionOptions"
    assert not TerminalSession.objects.exists()

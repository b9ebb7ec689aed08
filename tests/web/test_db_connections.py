"""An HTTP request's database connection ends with the request (console/web/db_connections.py): under
ASGI the request's thread ends too, and a connection left open there would never be reused."""

import pytest
from django.db import connection

from console.fleet.models import Instance


@pytest.mark.django_db(transaction=True)
def test_a_request_closes_the_connections_it_opened(client):
    connection.ensure_connection()
    assert connection.connection is not None
    response = client.get("/login/")
    assert response.status_code == 200
    assert connection.connection is None


@pytest.mark.django_db
def test_a_connection_inside_a_transaction_is_left_alone(client):
    # pytest-django wraps this test in a transaction: closing its connection would end the test's data.
    response = client.get("/login/")
    assert response.status_code == 200
    assert connection.connection is not None
    assert Instance.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_streamed_response_gives_its_connection_back_before_it_streams(client):
    # A release download to a slow agent may stream for minutes: it must not hold a pooled connection.
    connection.ensure_connection()
    response = client.get("/agent/assist-agent.pyz")
    assert response.status_code == 200 and response.streaming
    assert connection.connection is None  # before a byte of the body was read
    body = b"".join(response.streaming_content)
    assert body.startswith(b"#!") and b"__main__.py" in body  # the whole zipapp still arrives

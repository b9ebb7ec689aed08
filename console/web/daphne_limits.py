"""Both official SDKs put every parameter in the URL, so a RunCommand with 24 KB of Base64 content makes a
request line of up to ~70 KB. Twisted (under daphne) drops request lines and header blocks over 16 KB
without answering; raise its limits so such calls reach the API and get a real answer."""

REQUEST_LIMIT = 256 * 1024


def raise_request_limits() -> None:
    try:
        from twisted.web import http
    except ImportError:  # served by something other than daphne
        return
    http.HTTPChannel.totalHeadersSize = REQUEST_LIMIT
    http.HTTPChannel.MAX_LENGTH = REQUEST_LIMIT

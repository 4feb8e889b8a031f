"""Office-PC side of the unit link, on smpclient: messages, host keys, client calls,
and the transport that seals session requests and skips stale replies."""

"""Office-PC side of the unit link, on smpclient: messages, host keys, client calls."""

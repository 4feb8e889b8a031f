"""The office link: MCUmgr Simple Management Protocol (SMP) over serial, unit side.

Layers, bottom up (each a pure, sans-I/O piece):

- :mod:`firmware.link.framing` -- SMP-over-console serial framing (base64 lines,
  length prefix, CRC16-XMODEM);
- :mod:`firmware.link.header` -- the 8-byte SMP header, op codes, error codes and
  response bodies;
- :mod:`firmware.link.security` -- pairing and session authentication (keys,
  transcripts, the state the unit keeps);
- :mod:`firmware.link.groups` -- the command handlers (OS group, link-security group,
  unit-info group) and the dispatch table user groups plug into;
- :mod:`firmware.link.mac` -- the MAC every request and reply of a session carries;
- :mod:`firmware.link.server` -- :class:`~firmware.link.server.SMPServer`, fed bytes and
  time, returning bytes to send and events for the screen;
- :mod:`firmware.link.runner` -- :class:`~firmware.link.runner.LinkRunner`, the loop
  step that moves bytes between a board's link port and the server without blocking.

The wire format is documented in ``docs/protocol.md``.
"""

"""The office link: MCUmgr Simple Management Protocol (SMP) over serial, unit side.

Layers, bottom up (each a pure, sans-I/O piece):

- :mod:`firmware.office_link.framing` -- SMP-over-console serial framing (base64 lines,
  length prefix, CRC16-XMODEM);
- :mod:`firmware.office_link.header` -- the 8-byte SMP header, op codes, error codes and
  response bodies;
- :mod:`firmware.office_link.security` -- pairing and session authentication (keys,
  transcripts, the state the unit keeps);
- :mod:`firmware.office_link.groups` -- the command handlers (OS group, link-security group,
  unit-info group) and the dispatch table user groups plug into;
- :mod:`firmware.office_link.mac` -- the MAC every request and reply of a session carries;
- :mod:`firmware.office_link.server` -- :class:`~firmware.office_link.server.SMPServer`, fed bytes and
  time, returning bytes to send and events for the screen;
- :mod:`firmware.office_link.runner` -- :class:`~firmware.office_link.runner.LinkRunner`, the loop
  step that moves bytes between a board's link port and the server without blocking.

The wire format is documented in ``docs/protocol.md``.
"""

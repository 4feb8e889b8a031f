"""Signed updates of the unit's application (docs/update.md): the bundle (an MCUboot
image, ``bundle.py``), the A/B slots and their boot decisions (``slots.py``), the
health check before a new version is confirmed (``health.py``)."""

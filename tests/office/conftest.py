"""Fixtures of the office tests: the billing tests' PKI and tariffs, an office database."""

from __future__ import annotations

import pytest
from billing.conftest import pki, tariffs  # noqa: F401 - fixtures shared with tests/billing

from host_tools.office_db import OfficeDb


@pytest.fixture
def db(tmp_path):
    with OfficeDb(tmp_path / "office.db") as office:
        yield office

"""Fixtures for the store tests."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from .helpers import FakeClock, FakeWall, open_provisioned


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def wall() -> FakeWall:
    return FakeWall()


@pytest.fixture
def office() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


@pytest.fixture
def db_path(tmp_path) -> str:
    return os.path.join(tmp_path, "unit.db")


@pytest.fixture
def store(db_path, office, clock, wall):
    s, proof = open_provisioned(db_path, office, clock=clock, wall_clock=wall)
    s.test_proof = proof  # type: ignore[attr-defined]
    yield s
    s.close()

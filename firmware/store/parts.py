"""What the store's mixins (:mod:`.fse`, :mod:`.records`) rely on from
:class:`~firmware.store.store.Store`, declared once for the type checker."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from . import crypto


class StoreCore:
    """Empty at run time; under type checking, the attributes and methods
    :class:`~firmware.store.store.Store` provides to its mixins."""

    if TYPE_CHECKING:
        _conn: sqlite3.Connection
        _wall: Callable[[], float]
        _data_public: bytes | None
        _id_key: bytes
        unit_id: bytes
        budget_bytes: int
        reserve_bytes: int

        @property
        def provisioned(self) -> bool: ...
        def _tx(self, critical: bool = False) -> AbstractContextManager[sqlite3.Connection]: ...
        def _keys(self) -> crypto.KeyBundle: ...
        def trusted_offices(self) -> frozenset[bytes]: ...

"""Deterministic CBOR (RFC 8949 §4.2.1, "core deterministic encoding requirements").

cbor2's ``canonical=True`` is *not* enough: it orders map keys length-first
(the old RFC 7049 §3.9 "canonical CBOR"), while RFC 8949 §4.2.1 orders them by the
bytewise lexicographic order of their deterministic encodings. The two differ as
soon as a shorter key has a greater first byte: with keys -1 (``20``) and 100
(``18 64``), RFC 7049 puts -1 first, RFC 8949 puts 100 first
(tests/billing/test_cbor_det.py checks both against hand-encoded bytes).

So we sort map keys ourselves and let cbor2 (``canonical=False``, which keeps dict
order) write the rest: preferred (shortest) argument encoding and definite lengths
are what cbor2 always does (§4.2.1 first two bullets). Floats are refused: the
FSE payload has none (amounts are integer cents, factors are text).
"""

from __future__ import annotations

from collections.abc import Mapping

import cbor2

from .errors import FseFormatError

_SCALARS = (type(None), bool, int, str, bytes)
_SCALAR_SET = frozenset(_SCALARS)
_MAX_DEPTH = 32
_key_cache: dict[object, bytes] = {}


def _key_bytes(key: object) -> bytes:
    """Encoded form of a map key. Our profile allows text and integer keys only."""
    if type(key) not in (str, int):
        raise ValueError(f"map key of type {type(key).__name__} not allowed")
    enc = _key_cache.get(key)
    if enc is None:
        enc = cbor2.dumps(key)
        if len(_key_cache) < 4096:
            _key_cache[key] = enc
    return enc


def _prepare(value: object, depth: int = 0) -> object:
    """Copy of ``value`` with every map rebuilt in RFC 8949 §4.2.1 key order."""
    if depth > _MAX_DEPTH:
        raise ValueError("nesting too deep for an FSE payload")
    # ``type(value) is`` tests (not a variable holding the type) let mypy narrow.
    if type(value) is dict or isinstance(value, Mapping):
        items = sorted(((_key_bytes(k), k, v) for k, v in value.items()), key=lambda x: x[0])
        return {k: _prepare(v, depth + 1) for _, k, v in items}
    if type(value) is list or type(value) is tuple:
        return [_prepare(v, depth + 1) for v in value]
    t = type(value)
    if t in _SCALARS:
        return value
    if t is float:
        raise ValueError("floats are not allowed in deterministic FSE data")
    raise ValueError(f"type {t.__name__} not allowed in FSE data")


def _check_order(value: object, depth: int = 0) -> None:
    """Raise ValueError unless every map of a *decoded* value (cbor2 keeps wire order)
    has its keys in strictly increasing bytewise order of their encodings, and only
    plain types occur (no float, no tag). Hot path of batch verification: scalars
    are checked inline, only containers recurse."""
    if depth > _MAX_DEPTH:
        raise ValueError("nesting too deep for an FSE payload")
    if type(value) is dict:
        previous = b""
        cache = _key_cache
        for k, v in value.items():
            enc = cache.get(k) if type(k) is str else None
            if enc is None:
                enc = _key_bytes(k)
            if enc <= previous:
                raise ValueError("map keys not in bytewise order (or duplicated)")
            previous = enc
            tv = type(v)
            if tv is dict or tv is list:
                _check_order(v, depth + 1)
            elif tv not in _SCALAR_SET:
                raise ValueError(f"type {tv.__name__} not allowed in FSE data")
    elif type(value) is list:
        for v in value:
            tv = type(v)
            if tv is dict or tv is list:
                _check_order(v, depth + 1)
            elif tv not in _SCALAR_SET:
                raise ValueError(f"type {tv.__name__} not allowed in FSE data")
    elif type(value) not in _SCALAR_SET:
        raise ValueError(f"type {type(value).__name__} not allowed in FSE data")


def encode(value: object) -> bytes:
    """Deterministic encoding of plain data (dict/list/str/bytes/int/bool/None)."""
    return cbor2.dumps(_prepare(value))


def decode_deterministic(data: bytes) -> object:
    """Decode ``data`` and prove it is the deterministic encoding of what it holds.

    Raises :class:`FseFormatError` (code ``cbor_invalid`` or ``cbor_not_deterministic``).
    Proof: map keys are in bytewise order (checked on the decoded maps, which keep
    wire order), and re-encoding in that same order gives back exactly ``data`` --
    so indefinite lengths, non-shortest arguments, duplicate keys (collapsed by the
    decoder), floats, tags and trailing bytes all fail.
    """
    try:
        value = cbor2.loads(data)
    except Exception as exc:  # cbor2 raises several types; all mean "not CBOR"
        raise FseFormatError(f"not CBOR: {exc}", code="cbor_invalid") from None
    try:
        _check_order(value)
        again = cbor2.dumps(value)
    except (ValueError, RecursionError) as exc:
        raise FseFormatError(str(exc), code="cbor_not_deterministic") from None
    if again != data:
        raise FseFormatError(
            "payload is not in deterministic encoding (RFC 8949 §4.2.1)",
            code="cbor_not_deterministic",
        )
    return value

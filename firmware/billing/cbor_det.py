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

Decoding (:func:`decode_deterministic`) has a fast path when the optional ``cbrrr``
package (a strict DAG-CBOR decoder in C, the ``fast`` extra) is installed:
see :func:`_decode_fast` for why whatever it accepts the reference proof
(:func:`_decode_reference`, decode + order/type walk + re-encode) accepts too, with
the same value; whatever it does not accept goes through the reference proof, so the
verdict and the error code are always the reference's.
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import Mapping
from types import ModuleType

import cbor2

from .errors import FseFormatError

_dag_cbor: ModuleType | None
try:  # optional accelerator: the reference proof below runs without it
    _dag_cbor = importlib.import_module("cbrrr._cbrrr")
except ImportError:  # pragma: no cover - the unit's image ships cbor2 only
    _dag_cbor = None
FAST_PATH = _dag_cbor is not None  # shown by bench/fse.py

_SCALARS = (type(None), bool, int, str, bytes)
_SCALAR_SET = frozenset(_SCALARS)
_MAX_DEPTH = 32
_key_cache: dict[object, bytes] = {}
_referents = gc.get_referents


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


def _no_tag(_content: bytes) -> object:
    raise ValueError("tag 42 not allowed in FSE data")


def _no_float(value: object, may_float: bool = True) -> None:
    """Raise ValueError on a float anywhere in ``value`` (a cbrrr-decoded item), or on a
    container nested deeper than the reference allows (:func:`_check_order`'s rule: the
    top level is depth 0, a container deeper than ``_MAX_DEPTH`` is refused).
    ``may_float=False`` when the encoded bytes cannot hold a float: then only the depth
    is checked.

    Breadth first, one level of nesting per step, in C: ``gc.get_referents`` of the
    containers of one level is the list of their items (a list's elements, a map's
    values and keys: what ``tp_traverse`` of list and dict visits, every one of them);
    text, bytes, int, bool and None have no referents, so each level is exactly the
    items one level deeper. tests/billing/test_cbor_det.py feeds floats nested in maps
    and arrays at several depths: it fails if a CPython ever visits fewer items."""
    level = [value]
    depth = 0
    while level:
        if may_float or depth > _MAX_DEPTH:
            types = set(map(type, level))
            if float in types:
                raise ValueError("floats are not allowed in deterministic FSE data")
            if depth > _MAX_DEPTH and (dict in types or list in types):
                raise ValueError("nesting too deep for an FSE payload")
        level = _referents(*level)
        depth += 1


_PASS = object()  # what _decode_fast returns when it leaves the verdict to the reference


def _decode_fast(data: bytes) -> object:
    """The value of ``data`` if cbrrr's strict DAG-CBOR decoder accepts it, it holds no
    float and nests no deeper than the reference allows; else ``_PASS`` (no verdict).

    Why acceptance here implies acceptance by :func:`_decode_reference`, with an equal
    value (tests/billing/test_cbor_det.py checks it on mutated encodings): cbrrr
    refuses non-shortest integer and length arguments, indefinite lengths, trailing
    bytes, invalid UTF-8, every tag but 42 (and ``_no_tag`` refuses 42), every simple
    value but false/true/null and float64 (``_no_float`` refuses floats), map keys
    that are not text, duplicate keys, and text keys not in (length, bytes) order.
    For text keys that order *is* RFC 8949 §4.2.1's bytewise order of the encoded
    keys: a key's head (major type 3, shortest argument = its UTF-8 length) grows
    with the length and is the same for equal lengths, so comparing encodings
    bytewise compares lengths first, then the UTF-8 bytes. What is left is plain data
    (null, bool, int of major type 0/1, text, bytes, array, map), each item in its one
    shortest definite form, keys in the reference's order: the reference's re-encode
    gives back ``data``. Maps with integer keys (COSE headers), bignums and anything
    invalid return ``_PASS`` and take the reference path."""
    if _dag_cbor is None:
        return _PASS
    try:
        value, length = _dag_cbor.decode_dag_cbor(data, _no_tag, False)
        if length != len(data):
            return _PASS
        # a float cbrrr accepts is a float64, head byte fb (RFC 8949 §3.3): without an
        # fb byte anywhere (it also occurs inside byte strings and integer arguments,
        # then the types are checked) the data holds no float
        _no_float(value, b"\xfb" in data)
    except (ValueError, RecursionError, MemoryError):  # CbrrrDecodeError is a ValueError
        return _PASS
    return value


def decode_deterministic(data: bytes) -> object:
    """Decode ``data`` and prove it is the deterministic encoding of what it holds.

    Raises :class:`FseFormatError` (code ``cbor_invalid`` or ``cbor_not_deterministic``).
    The fast path (:func:`_decode_fast`) answers when it accepts; otherwise the
    reference proof (:func:`_decode_reference`) decides."""
    value = _decode_fast(data)
    if value is not _PASS:
        return value
    return _decode_reference(data)


def _decode_reference(data: bytes) -> object:
    """The reference proof of :func:`decode_deterministic` (cbor2 only): map keys are in bytewise order (checked on the decoded maps, which keep
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

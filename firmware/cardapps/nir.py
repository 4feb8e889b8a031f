"""NIR (numéro d'inscription au répertoire, the French social-security number) and its key.

The key is ``97 - (NIR mod 97)`` over the 13-digit number. For people born in
Corsica the department is ``2A`` or ``2B``: the number is made numeric by reading
``2A`` as ``19`` and ``2B`` as ``18`` (i.e. "20" minus 1 000 000 or 2 000 000),
then the same rule applies.

>>> nir_key("2061275111005")
'64'
>>> is_valid_nir("206127511100564")
True
"""

from __future__ import annotations

import re

_NIR_RE = re.compile(r"^[1-478][0-9]{4}(?:[0-9]{2}|2A|2B)[0-9]{6}$")


class NirError(ValueError):
    """A NIR that is not 13 characters of the expected shape."""


def nir_numeric(nir: str) -> int:
    """The 13-character NIR as the integer the key is computed on."""
    nir = nir.upper()
    if not _NIR_RE.match(nir):
        raise NirError(f"not a NIR: {nir!r}")
    dept = nir[5:7]
    if dept == "2A":
        return int(nir[:5] + "19" + nir[7:])
    if dept == "2B":
        return int(nir[:5] + "18" + nir[7:])
    return int(nir)


def nir_key(nir: str) -> str:
    """Two-digit key of a 13-character NIR."""
    return f"{97 - nir_numeric(nir) % 97:02d}"


def is_valid_nir(nir_with_key: str) -> bool:
    """True for 15 characters (13 + key) whose key is right."""
    if len(nir_with_key) != 15 or not nir_with_key[13:].isdigit():
        return False
    try:
        return nir_key(nir_with_key[:13]) == nir_with_key[13:]
    except NirError:
        return False

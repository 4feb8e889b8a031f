"""Billing number (numéro de facturation / numéro AM) of a professional situation.

Nine digits: two for the department, one for the category, five for the order
number, then one check digit. The Assurance Maladie's own check rule is not in
our public sources, so this open profile uses the Luhn (mod 10) rule, as used for
other French health identifiers (FINESS, ADELI and SIRET all use Luhn). A real
profile swaps :func:`billing_key` and nothing else.

>>> billing_key("12345678")
'2'
>>> is_valid_billing_number("123456782")
True
"""

from __future__ import annotations


def luhn_digit(digits: str) -> str:
    """Luhn check digit (ISO/IEC 7812-1 Annex B) to append to ``digits``."""
    if not digits.isdigit():
        raise ValueError(f"not digits: {digits!r}")
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # rightmost digit of the payload is doubled
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def billing_key(first8: str) -> str:
    if len(first8) != 8 or not first8.isdigit():
        raise ValueError(f"a billing number has 8 digits before its key: {first8!r}")
    return luhn_digit(first8)


def is_valid_billing_number(number: str) -> bool:
    return len(number) == 9 and number.isdigit() and billing_key(number[:8]) == number[8]

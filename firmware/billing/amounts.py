"""Money arithmetic. All amounts are integer cents; factors (coefficients, km,
unit prices in euros) are exact ``Decimal`` values parsed from strings, never floats.

Rounding rule (docs/billing.md §Rounding): a product is rounded once, half-up
(ROUND_HALF_UP: 4.725 -> 4.73), to the cent.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from .errors import InvoiceFormatError

_DECIMAL_TEXT = re.compile(r"^\d{1,6}(\.\d{1,3})?$")


def parse_decimal(text: object, field: str) -> Decimal:
    """Parse a non-negative decimal written as text ("1.5", "12", "0.305").

    Floats are refused on purpose: 0.1 + 0.2 is not 0.3 in binary, and the FSE
    payload must hold exact values (docs/billing.md §Amounts)."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise InvoiceFormatError(
            f"expected a decimal as text, got {type(text).__name__}", field=field
        )
    text = str(text)
    if not _DECIMAL_TEXT.match(text):
        raise InvoiceFormatError(f"not a decimal number: {text!r}", field=field)
    try:
        return Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the regex already filtered
        raise InvoiceFormatError(f"not a decimal number: {text!r}", field=field) from exc


def decimal_text(value: Decimal) -> str:
    """Canonical text of a decimal: no exponent, no trailing zeros ("1.50" -> "1.5")."""
    text = format(value.normalize(), "f")
    return text


def euros_to_cents(euros: Decimal) -> int:
    """Round an amount in euros half-up to an integer number of cents."""
    return int((euros * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def percent_of(cents: int, rate: int) -> int:
    """``rate`` percent of ``cents``, rounded half-up to the cent."""
    return int((Decimal(cents) * rate / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_euros(cents: int) -> str:
    """French display of an amount: 1234 -> '12,34 EUR'."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100},{cents % 100:02d} EUR"

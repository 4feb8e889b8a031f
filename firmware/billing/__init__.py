"""Billing core: invoices, tariffs, amounts, checks before signing, modes, FSE
numbering, the signed FSE (COSE_Sign over deterministic CBOR), duplicata and lots.

See docs/billing.md (rules, rounding, modes) and docs/fse.md (the signed format).
"""

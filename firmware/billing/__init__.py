"""Billing core: invoices, tariffs, amounts, checks before signing, modes, the signed
FSE (COSE_Sign over deterministic CBOR), duplicata and lots. FSE numbers are the
store's (firmware/store/fse.py, docs/store.md §FSE numbers).

See docs/billing.md (rules, rounding, modes) and docs/fse.md (the signed format).
"""

"""The map of the product: every screen, and where each of its outcomes leads.

``MAP[(screen, outcome)]`` is the move (``push``: Annuler comes back; ``BACK``;
``root``: a new stack; ``back_to``: down the stack to a screen; ``replace``).
``("*", outcome)`` applies on every screen: pulling the CPS or the idle timer
locks (``locked``), a pairing request shows its code, an error shows the error
screen (``failed``). docs/ui.md prints this table.
"""

from __future__ import annotations

from .machine import BACK, Move, Scene, back_to, push, replace, root
from .scene_update import Update
from .scenes_session import Error, Home, Info, LastFse, Lock, Pairing, Pin, Start
from .scenes_spot import Acts, KeptReads, NoVitale, Quantity, ReadOnly
from .scenes_visit import (
    Beneficiaries,
    Degraded,
    Detail,
    Finding,
    InsertVitale,
    Invoices,
    NoInvoice,
    Recap,
    Report,
    Signed,
    Signing,
)

SCENES: dict[str, type[Scene]] = {s.name: s for s in (
    Start, Lock, Pin, LastFse, Home, Info, Error, Pairing, Update,
    Invoices, Detail, InsertVitale, Beneficiaries, Report, Recap, Signing, Signed, Degraded,
    Finding, NoInvoice, Acts, Quantity, ReadOnly, NoVitale, KeptReads,
)}

MAP: dict[tuple[str, str], Move] = {
    # start and the CPS
    ("start", "shown"): root("lock"),
    ("start", "cps_in"): root("lock", "pin"),
    ("lock", "cps_in"): push("pin"),
    ("pin", "unlocked"): root("home"),
    ("pin", "show_last"): root("home", "last_fse"),
    ("pin", "cancel"): root("lock"),
    ("pin", "pulled"): root("lock"),
    ("last_fse", "ok"): BACK,
    # home
    ("home", "invoices"): push("invoices"),
    ("home", "new"): push("acts"),
    ("home", "read_only"): push("read_only"),
    ("home", "info"): push("info"),
    ("home", "vitale_in"): push("finding"),
    ("info", "back"): BACK,
    ("home", "update"): push("update"),
    ("update", "back"): BACK,
    # a prepared invoice, secured
    ("invoices", "detail"): push("detail"),
    ("invoices", "back"): BACK,
    ("detail", "start"): push("insert_vitale"),
    ("detail", "back"): BACK,
    ("insert_vitale", "read"): push("beneficiaries"),
    ("insert_vitale", "degraded"): push("no_vitale"),
    ("no_vitale", "degraded"): replace("degraded"),
    ("no_vitale", "kept"): replace("kept_reads"),
    ("no_vitale", "back"): BACK,
    ("kept_reads", "checked"): replace("recap"),
    ("kept_reads", "refused"): push("report"),
    ("kept_reads", "back"): BACK,
    ("insert_vitale", "back"): BACK,
    ("beneficiaries", "checked"): push("recap"),
    ("beneficiaries", "refused"): push("report"),
    ("beneficiaries", "back"): BACK,
    ("report", "back"): BACK,
    ("recap", "sign"): push("signing"),
    ("recap", "back"): BACK,
    ("signing", "signed"): root("home", "signed"),
    ("signed", "next"): root("home", "invoices"),
    ("signed", "done"): root("home"),
    ("signed", "vitale_in"): root("home", "finding"),
    # degraded: an explicit choice
    ("degraded", "checked"): replace("recap"),
    ("degraded", "refused"): replace("report"),
    ("degraded", "back"): BACK,
    # the Vitale card on the home screen finds its patient's invoice
    ("finding", "ready"): root("home", "beneficiaries", "recap"),
    ("finding", "refused"): root("home", "beneficiaries", "report"),
    ("finding", "choose"): root("home", "beneficiaries"),
    ("finding", "choose_failed"): root("home", "beneficiaries", "error"),
    ("finding", "none"): replace("no_invoice"),
    ("no_invoice", "ok"): BACK,
    ("no_invoice", "new"): replace("acts"),
    # errors: where Valider leads (firmware/ui/problems.py picks one per error code)
    ("error", "to_lock"): root("lock"),
    ("error", "to_home"): root("home"),
    ("error", "to_pin"): replace("pin"),
    ("error", "to_vitale"): back_to("insert_vitale", "home", "insert_vitale"),
    ("error", "to_choice"): back_to("beneficiaries", "home"),
    ("error", "to_recap"): back_to("recap", "home"),
    ("error", "to_degraded"): back_to("insert_vitale", "home", "insert_vitale",
                                       then=("degraded",)),
    # an invoice on the spot, then as a prepared one
    ("acts", "pick"): push("quantity"),
    ("acts", "done"): push("insert_vitale"),
    ("acts", "back"): BACK,
    ("quantity", "added"): BACK,
    ("quantity", "back"): BACK,
    # the Vitale read only (kept for the office)
    ("read_only", "back"): BACK,
    # pairing
    ("pairing", "answered"): BACK,
    ("pairing", "ended"): BACK,
    # every screen
    ("*", "locked"): root("lock"),
    ("*", "failed"): push("error"),
    ("*", "pairing"): push("pairing"),
}

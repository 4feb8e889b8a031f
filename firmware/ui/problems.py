"""Every error the use cases raise, with what the professional does next.

``HINTS``: error code -> (what to do, where Valider leads). The French error
text itself is the error's own ``message_fr`` (one rule in one place); the
hint is the way forward. Where Valider leads is an outcome of the error
screen in the screen map: ``to_lock``, ``to_home``, ``to_vitale`` (present the
Vitale again), ``to_choice`` (the beneficiaries), ``to_recap``, ``to_degraded``
(the explicit degraded choice), ``to_pin``. A code not listed keeps the
screen's own way forward (``then`` given by the screen that failed).
"""

from __future__ import annotations

from firmware.visit.errors import VisitError

from .machine import Problem

HINTS: dict[str, tuple[str, str]] = {
    # the CPS and its PIN
    "pin_wrong": ("Refaire le code", "to_pin"),
    "pin_blocked": ("Débloquer la CPS avec son code de déblocage", "to_lock"),
    "card_dead": ("Commander une nouvelle CPS", "to_lock"),
    "ps_card_expired": ("Utiliser une CPS valide", "to_lock"),
    "store_wrong_card": ("CPS non enrôlée sur ce terminal", "to_lock"),
    "store_not_provisioned": ("Appairer au cabinet", "to_lock"),
    "unit_locked": ("Insérer la CPS et son code", "to_lock"),
    "cps_no_fse_right": ("Signer avec la CPS du professionnel", "to_home"),
    "ps_not_allowed": ("Signer avec la CPS du professionnel", "to_home"),
    # cards in their slots
    "card_removed": ("Réinsérer la carte, puis Valider", "to_vitale"),
    "card_absent": ("Insérer la carte, puis Valider", "to_vitale"),
    "card_mute": ("Retourner la carte et réinsérer, ou mode dégradé", "to_vitale"),
    "atr_mute": ("Retourner la carte et réinsérer, ou mode dégradé", "to_vitale"),
    "atr_invalid": ("Réinsérer la carte, ou mode dégradé", "to_vitale"),
    "pps_failed": ("Réinsérer la carte, ou mode dégradé", "to_vitale"),
    "card_protocol": ("Réinsérer la carte, ou mode dégradé", "to_vitale"),
    "card_wrong_type": ("Vérifier la carte et sa fente (Vitale ou CPS)", "to_vitale"),
    "vitale_opposed": ("Carte refusée: mode dégradé possible", "to_degraded"),
    "vitale_expired": ("Carte refusée: mode dégradé possible", "to_degraded"),
    "vitale_cannot_sign": ("Vitale 1: signer en mode dégradé", "to_degraded"),
    "mode_vitale_present": ("La Vitale peut signer: mode sécurisé", "to_vitale"),
    # the patient
    "rights_closed": ("Choisir un autre bénéficiaire ou mode dégradé", "to_choice"),
    "care_before_rights": ("Choisir un autre bénéficiaire", "to_choice"),
    "beneficiary_mismatch": ("Choisir le patient de la facture", "to_choice"),
    "beneficiary_unknown": ("Choisir le bénéficiaire", "to_choice"),
    "ald_not_on_card": ("Choisir un autre bénéficiaire", "to_choice"),
    # the unit
    "store_no_fse_number": ("Recharger des numéros au cabinet", "to_home"),
    "fse_range_exhausted": ("Recharger des numéros au cabinet", "to_home"),
    "store_full": ("Décharger les FSE au cabinet", "to_home"),
    "store_io": ("Réessayer; si cela dure, appeler le support", "to_recap"),
    "clock_not_set": ("Régler l'heure depuis le cabinet", "to_home"),
    "battery_low": ("Brancher le chargeur", "to_recap"),
    "tariff_missing": ("Charger le tarif au cabinet", "to_home"),
    "invoice_used": ("Facture déjà signée: rien à refaire", "to_home"),
    "ui_internal": ("Noter l'heure et appeler le support", "to_home"),
    "visit_internal": ("Noter l'heure et appeler le support", "to_home"),
}


def problem_for(error: VisitError, then: str, *, locked: bool) -> Problem:
    """The error screen's content for ``error``. A locked terminal always leads
    back to the lock screen (the CPS was pulled or failed: present it again)."""
    hint, lead = HINTS.get(error.code, ("", then or "to_home"))
    if locked:
        lead = "to_lock"
        if error.code == "card_removed" and "CPS" in (error.message_fr or ""):
            hint = "Réinsérer la CPS: la facture reste à signer"
    return Problem(error.code, error.message_fr or "Erreur", hint, lead)

"""What the UI is fed (events) and what it asks for (effects).

Events: :class:`firmware.parts.KeyEvent` (only presses act), :class:`CardInserted`
/ :class:`CardRemoved` per slot (``"cps"`` or ``"vitale"``), :class:`Tick` (the
monotonic time, for the idle lock and timed screens), :class:`BatteryLevel`,
the link's :class:`firmware.office_link.events.PairingRequested` / ``PairingEnded``, and
:class:`JobDone` (a card job finished).

Effects: :class:`RunJob` (run ``job.run()`` on the worker that owns the unit,
then post :func:`run_job`'s :class:`JobDone` back), :class:`Sound` (a beep),
:class:`AnswerPairing` (the professional confirmed or refused a pairing code).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from firmware.errors import TlaError
from firmware.office_link.events import PairingEnded, PairingRequested
from firmware.parts import Beep, KeyEvent
from firmware.visit.errors import VisitError, translate

log = logging.getLogger("opentla.ui")

@dataclass(frozen=True)
class CardInserted:
    slot: str


@dataclass(frozen=True)
class CardRemoved:
    slot: str


@dataclass(frozen=True)
class Tick:
    now: float  # monotonic seconds


@dataclass(frozen=True)
class BatteryLevel:
    percent: int | None


@dataclass(frozen=True)
class JobDone:
    """A :class:`RunJob` ended: ``value`` is what it returned, or ``error`` why not."""

    job: str
    value: object = None
    error: VisitError | None = None


Event = (KeyEvent | CardInserted | CardRemoved | Tick | BatteryLevel | JobDone
         | PairingRequested | PairingEnded)


@dataclass(frozen=True)
class RunJob:
    """Card (or store) work: the host loop runs ``run()`` off the UI path and
    feeds back ``run_job(effect)``. ``job`` names it ("unlock", "sign"...)."""

    job: str
    run: Callable[[], object]


@dataclass(frozen=True)
class Sound:
    kind: Beep


@dataclass(frozen=True)
class AnswerPairing:
    accept: bool


Effect = RunJob | Sound | AnswerPairing


def run_job(effect: RunJob) -> JobDone:
    """Run a job and wrap its outcome as the event to post back. A use-case error
    (``VisitError``, or another firmware error) is the job's answer; anything else
    is our bug: logged with its traceback and shown as "Erreur interne"."""
    try:
        return JobDone(effect.job, value=effect.run())
    except TlaError as exc:
        return JobDone(effect.job, error=translate(exc))
    except Exception as exc:  # noqa: BLE001 - a bug in a job must not kill the screen
        log.exception("ui_job_failed job=%s", effect.job)
        return JobDone(effect.job, error=VisitError(str(exc), code="ui_internal",
                                                    message_fr="Erreur interne", cause=exc))

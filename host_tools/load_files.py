"""Reading the files ``tla load`` sends: JSON and CSV, checked before anything is sent.

Formats (``docs/protocol.md`` §8 has annotated examples):

- JSON: one object with any of ``invoices`` (list of invoice objects, as
  firmware.billing ``Invoice.from_dict`` reads them), ``patients`` (list of objects
  with ``patient_id`` and the patient fields), ``tariffs`` (one tariff table, as
  ``TariffTable.from_dict``; optional ``tariff_id``, default ``current``),
  ``fse_ranges`` (list of ``{range_id, professional_id, first, last}``) and
  ``opposition`` (list of Vitale serial numbers); each section once.
- CSV (UTF-8, comma, header row): the kind is recognised from the header:
  ``invoice_id`` + ``code`` -> invoice act lines (one row per line, the rows of one
  invoice consecutive; patient columns ``patient_*``, prescription ``prescriber_id``,
  ``prescription_date``, ``prescriber_name``); ``patient_id`` -> patients;
  ``range_id`` -> FSE number ranges; a lone ``serial`` column -> opposition list.

Every record is checked by its kind's schema (firmware/loaded/schema.py, the one the
unit applies), act codes and professions against the tariff table of the load (or the
one ``tla load`` last sent, see :func:`read_files`), FSE ranges by the range rule
(firmware/loaded/ranges.py). Every problem is a :class:`LoadProblem` naming the file,
the line and the field; :func:`read_files` collects them (the first
:data:`MAX_PROBLEMS`) and raises :class:`LoadFilesError`.

Cost: one streaming pass per file to check (csv module; JSON element by element,
host_tools/json_stream.py), memory flat in the file size: ids already seen sit in a
temporary SQLite table on disk, not in RAM (``bench/load.py``). Payloads are encoded
only when sending, which reads the files a second time (:meth:`LoadSet.items`).
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware.billing.errors import BillingError
from firmware.billing.tariffs import TariffTable
from firmware.loaded import schema
from firmware.loaded.ranges import RangeBook
from firmware.loaded.schema import PATIENT_FIELDS, FseRange

from .importer import LoadItem
from .json_stream import Element, JsonFileError, JsonSections, locate

MAX_PROBLEMS = 100
INVOICE_COLUMNS = ("invoice_id", "billing_number", "profession", "date_of_care", "nature",
                   "exoneration", "tiers_payant", "at_date", "at_number")
LINE_COLUMNS = schema.LINE_FIELDS
INT_FIELDS = ("quantity", "amount_cents", "birth_rank", "first", "last")
CSV_INVOICE_COLUMNS = (*INVOICE_COLUMNS, *LINE_COLUMNS, "prescriber_id", "prescription_date",
                       "prescriber_name", *(f"patient_{k}" for k in PATIENT_FIELDS))
CSV_RANGE_COLUMNS = schema.RANGE_FIELDS
CSV_PATIENT_COLUMNS = ("patient_id", *PATIENT_FIELDS)
LIST_SECTIONS = ("invoices", "patients", "fse_ranges", "opposition")
_INT = re.compile(r"-?\d+")


@dataclass(frozen=True)
class LoadProblem:
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class LoadFilesError(ValueError):
    def __init__(self, problems: list[LoadProblem], more: int = 0) -> None:
        lines = [str(p) for p in problems] + ([f"... and {more} more problems"] if more else [])
        super().__init__("\n".join(lines))
        self.problems = problems


@dataclass(frozen=True)
class Found:
    """One checked record of a file, and where its id is."""

    kind: str  # invoice | patient | tariff | serial | fse_range
    record_id: str
    value: Any  # Invoice | patient dict | (raw table, TariffTable) | serial | FseRange
    file: str
    line: int | None
    field: str
    act_lines: tuple[int, ...] = ()  # CSV: the row of each act line

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def item(self) -> LoadItem:
        if self.kind == "invoice":
            return LoadItem("invoice", self.record_id, self.value.billing_number,
                            schema.encode("invoice", self.value))
        if self.kind == "tariff":
            return LoadItem("tariff", self.record_id, None, schema.encode("tariff", self.value[0]))
        return LoadItem(self.kind, self.record_id, None, schema.encode(self.kind, self.value))


class Seen:
    """(kind, id) -> where it was first given, in a temporary SQLite file (RAM stays flat).
    A private scratch file, not the office database: plain sqlite3, no SQLAlchemy."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="tla-load-")
        self.conn = sqlite3.connect(str(Path(self._dir.name) / "seen.db"), isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-4096"):
            self.conn.execute(f"PRAGMA {pragma}")
        self.conn.execute("CREATE TABLE seen (kind TEXT, id TEXT, at TEXT, "
                          "PRIMARY KEY (kind, id)) WITHOUT ROWID")
        self.conn.execute("BEGIN")

    def add(self, kind: str, record_id: str, where: str) -> str | None:
        """None if new, else where it was first given."""
        cur = self.conn.execute("INSERT INTO seen VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                                (kind, record_id, where))
        if cur.rowcount:
            return None
        return self.conn.execute("SELECT at FROM seen WHERE kind=? AND id=?",
                                 (kind, record_id)).fetchone()[0]

    def close(self) -> None:
        self.conn.close()
        self._dir.cleanup()


@dataclass
class LoadSet:
    """What the check found: counts and sizes, the ranges and the opposition list
    (small), the tariff table; the records themselves are read again by items()."""

    paths: list[Path] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    ranges: list[Found] = field(default_factory=list)
    opposition: set[str] = field(default_factory=set)
    tariff: tuple[dict, TariffTable] | None = None  # the last table of the load
    problems: list[LoadProblem] = field(default_factory=list)
    more_problems: int = 0
    # (profession, code or None) -> first place it is used, checked against the tariff
    acts: dict[tuple[str, str | None], LoadProblem] = field(default_factory=dict)

    def problem(self, p: LoadProblem) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(p)
        else:
            self.more_problems += 1

    @property
    def records(self) -> int:
        return sum(n for kind, n in self.counts.items() if kind != "fse_range")

    def items(self) -> Iterator[LoadItem]:
        """Every data record, read again from the files (then the opposition list)."""
        for path in self.paths:
            for found in _parse(path):
                if isinstance(found, LoadProblem):  # the file changed since the check
                    raise LoadFilesError([found])
                if found.kind in ("invoice", "patient", "tariff"):
                    yield found.item()
        if self.opposition:
            yield LoadItem("opposition", "current", None,
                           schema.encode("opposition", frozenset(self.opposition)))

    def fse_ranges(self) -> list[FseRange]:
        return [f.value for f in self.ranges]

    def range_problems(self, stored: list[FseRange]) -> list[LoadProblem]:
        """The range rule over the unit's stored ranges then the files' (in order)."""
        book = RangeBook(stored)
        out = []
        for found in self.ranges:
            try:
                book.add(found.value)
            except BillingError as exc:
                label = found.field.rsplit(".", 1)[0] + f".{exc.field}" if "." in found.field \
                    else exc.field
                out.append(LoadProblem(found.file, found.line, label, exc.detail))
        return out


# ---- parsing: JSON ----------------------------------------------------------------------
def _path(label: str) -> list[str | int]:
    return [int(p[1:-1]) if p.startswith("[") else p
            for p in re.findall(r"[^.\[\]]+|\[\d+\]", label)]


def _json(name: str, f) -> Iterator[Found | LoadProblem]:
    checks = {"invoices": ("invoice", schema.check_invoice, "invoice_id"),
              "patients": ("patient", schema.check_patient, "patient_id"),
              "fse_ranges": ("fse_range", schema.check_range, "range_id"),
              "opposition": ("serial", schema.check_serial, "")}
    try:
        for el in JsonSections(f, LIST_SECTIONS):
            yield from _json_element(name, el, checks)
    except JsonFileError as exc:
        yield LoadProblem(name, exc.line or None, "", exc.message)


def _json_element(name: str, el: Element, checks) -> Iterator[Found | LoadProblem]:
    def problem(exc: BillingError, prefix: str) -> LoadProblem:
        sub = "" if exc.field in ("", "$", "serial") else exc.field
        label = prefix + (f".{sub}" if sub else "")
        return LoadProblem(name, el.line + locate(el.text, _path(sub)), label,
                           exc.detail or str(exc))

    if el.section == "tariffs":
        try:
            table = schema.check_tariff(el.value)
            tid = el.value.get("tariff_id", "current")
            schema.check_id(tid, "tariff_id")
            schema.encode("tariff", el.value)  # no float anywhere (deterministic CBOR)
        except BillingError as exc:
            yield problem(exc, "tariffs")
            return
        yield Found("tariff", tid, (el.value, table), name, el.line, "tariffs")
        return
    if el.section not in checks:
        yield LoadProblem(name, el.line, el.section, "unknown section")
        return
    if el.index is None:
        yield LoadProblem(name, el.line, el.section, "expected a list")
        return
    kind, check, id_field = checks[el.section]
    prefix = f"{el.section}[{el.index}]"
    try:
        value = check(el.value)
    except BillingError as exc:
        yield problem(exc, prefix)
        return
    rid = value if kind == "serial" else (value.range_id if kind == "fse_range" else (
        value.invoice_id if kind == "invoice" else value["patient_id"]))
    line = el.line + locate(el.text, [id_field]) if id_field else el.line
    yield Found(kind, rid, value, name, line, f"{prefix}.{id_field}" if id_field else prefix)


# ---- parsing: CSV -----------------------------------------------------------------------
def _cells(columns: list[str], row: list[str]) -> dict[str, Any]:
    """Empty cells are absent; integer columns become integers (or stay text: then the
    check names the field)."""
    out: dict[str, Any] = {}
    for key, value in zip(columns, row, strict=False):
        value = value.strip()
        if value == "":
            continue
        out[key] = int(value) if key in INT_FIELDS and _INT.fullmatch(value) else value
    return out


def _csv(name: str, f) -> Iterator[Found | LoadProblem]:
    reader = csv.reader(f)
    try:
        header = next(reader, None)
        while header is not None and not any(c.strip() for c in header):
            header = next(reader, None)
    except csv.Error as exc:
        yield LoadProblem(name, reader.line_num, "", f"not CSV: {exc}")
        return
    if header is None:
        yield LoadProblem(name, None, "", "empty file (expected a header row)")
        return
    columns = [c.strip() for c in header]
    known = _csv_kind(set(columns))
    if known is None:
        yield LoadProblem(name, 1, "", "unknown CSV header: expected invoice, patient, range "
                          "or serial columns")
        return
    kind, allowed = known
    unknown = [c for c in columns if c not in allowed]
    for c in unknown:
        yield LoadProblem(name, 1, c or "(empty)", f"unknown column (known: {', '.join(allowed)})")
    if len(set(columns)) != len(columns):
        yield LoadProblem(name, 1, "", "a column name appears twice in the header")
        return
    if unknown:
        return
    group: list[tuple[int, dict]] = []
    rows = 0
    try:
        for row in reader:
            line = reader.line_num
            if not row:
                continue
            rows += 1
            if len(row) > len(columns):
                yield LoadProblem(name, line, "", f"more cells than the {len(columns)} header "
                                  "columns")
                continue
            cells = _cells(columns, row)
            if kind != "invoice":
                yield _csv_record(name, kind, line, cells)
            elif group and cells.get("invoice_id") != group[0][1].get("invoice_id"):
                yield from _csv_invoice(name, group)
                group = [(line, cells)]
            else:
                group.append((line, cells))
    except csv.Error as exc:
        yield LoadProblem(name, reader.line_num, "", f"not CSV: {exc}")
        return
    if group:
        yield from _csv_invoice(name, group)
    if rows == 0:
        yield LoadProblem(name, 1, "", "no data rows (a header only)")


def _csv_kind(header: set[str]) -> tuple[str, tuple[str, ...]] | None:
    if {"invoice_id", "code"} <= header:
        return "invoice", CSV_INVOICE_COLUMNS
    if "patient_id" in header:
        return "patient", CSV_PATIENT_COLUMNS
    if "range_id" in header:
        return "fse_range", CSV_RANGE_COLUMNS
    if header == {"serial"}:
        return "serial", ("serial",)
    return None


def _csv_record(name: str, kind: str, line: int, cells: dict) -> Found | LoadProblem:
    try:
        if kind == "patient":
            value: Any = schema.check_patient(cells)
            return Found(kind, value["patient_id"], value, name, line, "patient_id")
        if kind == "fse_range":
            value = schema.check_range(cells)
            return Found(kind, value.range_id, value, name, line, "range_id")
        value = schema.check_serial(cells.get("serial"))
        return Found(kind, value, value, name, line, "serial")
    except BillingError as exc:
        return LoadProblem(name, line, exc.field if exc.field not in ("", "$") else kind,
                           exc.detail or str(exc))


def _csv_invoice(name: str, members: list[tuple[int, dict]]) -> Iterator[Found | LoadProblem]:
    first_line, first = members[0]
    invoice_id = first.get("invoice_id", "")
    clash = next(((ln, k) for ln, c in members[1:] for k in INVOICE_COLUMNS
                  if c.get(k) != first.get(k)), None)
    if clash is not None:
        yield LoadProblem(name, clash[0], clash[1],
                          f"differs from line {first_line} of invoice {invoice_id}")
        return
    raw: dict[str, Any] = {k: first[k] for k in INVOICE_COLUMNS if k in first}
    patient = {k[8:]: v for k, v in first.items() if k.startswith("patient_")}
    if patient:
        raw["patient"] = patient
    if "prescriber_id" in first or "prescription_date" in first:
        raw["prescription"] = {"prescriber_id": first.get("prescriber_id", ""),
                               "date": first.get("prescription_date"),
                               "prescriber_name": first.get("prescriber_name", "")}
    raw["lines"] = [{k: c[k] for k in LINE_COLUMNS if k in c} for _, c in members]
    try:
        invoice = schema.check_invoice(raw)
    except BillingError as exc:
        line, column = first_line, exc.field
        m = re.fullmatch(r"lines\[(\d+)\]\.(\w+)", exc.field)
        if m and int(m.group(1)) < len(members):
            line, column = members[int(m.group(1))][0], m.group(2)
        elif exc.field.startswith("patient."):
            column = "patient_" + exc.field[8:]
        elif exc.field.startswith("prescription."):
            column = {"date": "prescription_date"}.get(exc.field[13:], exc.field[13:])
        yield LoadProblem(name, line, column, exc.detail or str(exc))
        return
    yield Found("invoice", invoice.invoice_id, invoice, name, first_line, "invoice_id",
                tuple(ln for ln, _ in members))


def _parse(path: Path) -> Iterator[Found | LoadProblem]:
    name = str(path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            yield from (_csv(name, f) if name.lower().endswith(".csv") else _json(name, f))
    except (OSError, UnicodeDecodeError) as exc:
        yield LoadProblem(name, None, "", f"cannot read: {exc}")


# ---- the check --------------------------------------------------------------------------
def _take(out: LoadSet, seen: Seen, found: Found) -> None:
    label = {"fse_range": "range_id", "tariff": "tariff_id", "serial": "serial"}.get(
        found.kind, f"{found.kind}_id")
    if found.kind != "serial":
        first = seen.add(found.kind, found.record_id, found.where())
        if first is not None:
            out.problem(LoadProblem(found.file, found.line, found.field or label,
                                    f"duplicate {label} {found.record_id!r} (first at {first})"))
            return
    out.counts[found.kind] = out.counts.get(found.kind, 0) + 1
    if found.kind == "fse_range":
        out.ranges.append(found)
    elif found.kind == "serial":
        out.opposition.add(found.value)
    else:
        if found.kind == "tariff":
            out.tariff = found.value
            try:
                schema.encode("tariff", found.value[0])
            except BillingError as exc:  # a float: deterministic CBOR refuses it
                out.problem(LoadProblem(found.file, found.line, found.field, exc.detail))
    if found.kind == "invoice":
        inv = found.value
        prefix = found.field.rsplit(".", 1)[0] + "." if "." in found.field else ""
        acts = out.acts
        if (inv.profession, None) not in acts:
            acts[inv.profession, None] = LoadProblem(found.file, found.line,
                                                     f"{prefix}profession", "")
        for i, line in enumerate(inv.lines):
            if (inv.profession, line.code) not in acts:
                column = f"{prefix}lines[{i}].code" if prefix else "code"
                row = found.act_lines[i] if i < len(found.act_lines) else found.line
                acts[inv.profession, line.code] = LoadProblem(found.file, row, column, "")


def _check_acts(out: LoadSet, known: TariffTable | None) -> None:
    table = out.tariff[1] if out.tariff is not None else known
    if not out.acts:
        return
    if table is None:
        first = next(iter(out.acts.values()))
        out.problem(LoadProblem(first.file, first.line, "", "no tariff table to check the act "
                                "codes against: put the table in this load (a tariffs section)"))
        return
    for (profession, code), where in out.acts.items():
        if code is None and table.amo_rate(profession) is None:
            out.problem(LoadProblem(where.file, where.line, where.field,
                                    f"profession {profession!r} is not in the tariff table"))
        elif code is not None and table.amo_rate(profession) is not None \
                and table.entry(profession, code) is None:
            out.problem(LoadProblem(where.file, where.line, where.field,
                                    f"act {code!r} is not in the tariff table for profession "
                                    f"{profession}"))


def read_files(paths: list[Path], tariff: TariffTable | None = None) -> LoadSet:
    """Check every file in one streaming pass; raise LoadFilesError listing the problems.

    Act codes and professions are checked against the last tariff table of these files,
    else against ``tariff`` (``tla load`` passes the table it last sent), else the
    invoices are refused: nothing else tells an unknown act before the visit.
    """
    out = LoadSet(paths=[Path(p) for p in paths])
    seen = Seen()
    try:
        for path in out.paths:
            records = problems = 0
            for found in _parse(path):
                if isinstance(found, LoadProblem):
                    out.problem(found)
                    problems += 1
                else:
                    _take(out, seen, found)
                    records += 1
            if records == problems == 0:
                out.problem(LoadProblem(str(path), None, "", "nothing to load in this file"))
    finally:
        seen.close()
    _check_acts(out, tariff)
    for p in out.range_problems([]):  # the files' own ranges; the unit's come once connected
        out.problem(p)
    if out.problems:
        raise LoadFilesError(out.problems, out.more_problems)
    return out


def tariff_copy(raw: dict) -> str:
    """The text ``tla load`` keeps of the last table it sent (see read_files)."""
    return json.dumps(raw, ensure_ascii=False, sort_keys=True)

"""Reading the files ``tla load`` sends: JSON and CSV, validated before anything is sent.

Formats (``docs/protocol.md`` §6 has annotated examples):

- JSON: one object with any of ``invoices`` (list of invoice objects, as
  firmware.billing ``Invoice.from_dict`` reads them), ``patients`` (list of objects
  with ``patient_id`` and the patient fields), ``tariffs`` (one tariff table, as
  ``TariffTable.from_dict``; optional ``tariff_id``, default ``current``),
  ``fse_ranges`` (list of ``{range_id, professional_id, first, last}``) and
  ``opposition`` (list of Vitale serial numbers).
- CSV (UTF-8, comma, header row): the kind is recognised from the header:
  ``invoice_id`` + ``code`` -> invoice act lines (one row per line, grouped by
  ``invoice_id``; patient columns ``patient_*``, prescription ``prescriber_id``,
  ``prescription_date``, ``prescriber_name``); ``patient_id`` -> patients;
  ``range_id`` -> FSE number ranges; a lone ``serial`` column -> opposition list.

Every problem is a :class:`LoadProblem` naming the file, the line and the field;
:func:`read_files` collects them all and raises :class:`LoadFilesError`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from firmware.billing.cbor_det import encode
from firmware.billing.errors import BillingError
from firmware.billing.invoice import Invoice
from firmware.billing.tariffs import TariffTable

from .importer import LoadItem

ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
SERIAL = re.compile(r"[0-9A-Za-z]{1,32}")
PATIENT_FIELDS = ("nir", "nir_key", "birth_date", "birth_rank", "name", "first_name",
                  "regime", "caisse", "centre")
INVOICE_COLUMNS = ("invoice_id", "billing_number", "profession", "date_of_care", "nature",
                   "exoneration", "tiers_payant", "at_date", "at_number")
LINE_COLUMNS = ("code", "coefficient", "quantity", "km", "amount_cents")
INT_FIELDS = ("quantity", "amount_cents", "birth_rank", "first", "last")
PRESCRIPTION_FIELDS = ("prescriber_id", "date", "prescriber_name")
INVOICE_FIELDS = (*INVOICE_COLUMNS, "patient", "prescription", "lines")
CSV_INVOICE_COLUMNS = (*INVOICE_COLUMNS, *LINE_COLUMNS, "prescriber_id", "prescription_date",
                       "prescriber_name", *(f"patient_{k}" for k in PATIENT_FIELDS))
CSV_RANGE_COLUMNS = ("range_id", "professional_id", "first", "last")
CSV_PATIENT_COLUMNS = ("patient_id", *PATIENT_FIELDS)


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
    def __init__(self, problems: list[LoadProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass
class LoadSet:
    items: list[LoadItem] = field(default_factory=list)
    ranges: list[tuple[str, str, int, int]] = field(default_factory=list)
    opposition: set[str] = field(default_factory=set)
    problems: list[LoadProblem] = field(default_factory=list)
    seen: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, id) -> file:line

    def add(self, value: LoadItem | tuple[str, str, int, int], where: LoadProblem) -> None:
        """Keep a record or a range unless its id was already given (in any file): the
        unit would silently keep only the last one, so a duplicate is an error."""
        kind, rid = ("fse_range", value[0]) if isinstance(value, tuple) else (
            value.kind, value.record_id)
        label = {"fse_range": "range_id", "tariff": "tariff_id"}.get(kind, f"{kind}_id")
        if (kind, rid) in self.seen:
            self.problems.append(LoadProblem(where.file, where.line, where.field or label,
                                             f"duplicate {label} {rid!r} (first at "
                                             f"{self.seen[kind, rid]})"))
            return
        self.seen[kind, rid] = f"{where.file}:{where.line}" if where.line else where.file
        if isinstance(value, tuple):
            self.ranges.append(value)
        else:
            self.items.append(value)

    def all_items(self) -> list[LoadItem]:
        extra = []
        if self.opposition:
            payload = encode({"serials": sorted(self.opposition)})
            extra.append(LoadItem("opposition", "current", None, payload))
        return self.items + extra


# ---- validation shared by both formats ---------------------------------------------------
def _unknown(raw: object, known: tuple[str, ...], prefix: str = "") -> None:
    """A misspelt field would otherwise be ignored and its default used: refuse it."""
    if isinstance(raw, dict):
        unknown = sorted(str(k) for k in raw if k not in known)
        if unknown:
            raise BillingError(f"unknown field (known: {', '.join(known)})",
                               field=prefix + unknown[0])


def _invoice(raw: object) -> LoadItem:
    _unknown(raw, INVOICE_FIELDS)
    if isinstance(raw, dict):
        lines = raw.get("lines")
        for i, line in enumerate(lines if isinstance(lines, list) else []):
            _unknown(line, LINE_COLUMNS, f"lines[{i}].")
        _unknown(raw.get("prescription"), PRESCRIPTION_FIELDS, "prescription.")
        _unknown(raw.get("patient"), PATIENT_FIELDS, "patient.")
    invoice = Invoice.from_dict(raw)
    if not ID.fullmatch(invoice.invoice_id):
        raise BillingError("1-64 of [A-Za-z0-9._:-]", field="invoice_id")
    return LoadItem("invoice", invoice.invoice_id, invoice.billing_number, encode(invoice.to_dict()))


def _patient(raw: object) -> LoadItem:
    if not isinstance(raw, dict):
        raise BillingError("expected an object", field="$")
    pid = raw.get("patient_id")
    if not isinstance(pid, str) or not ID.fullmatch(pid):
        raise BillingError("1-64 of [A-Za-z0-9._:-]", field="patient_id")
    fields = {k: v for k, v in raw.items() if k != "patient_id"}
    unknown = sorted(set(fields) - set(PATIENT_FIELDS))
    if unknown:
        raise BillingError("unknown field", field=unknown[0])
    probe = {"invoice_id": "x", "billing_number": "1", "profession": "00",
             "date_of_care": "2026-01-01", "lines": [{"code": "X"}], "patient": fields}
    try:  # the billing core's own patient rules (Invoice.from_dict checks the patient part)
        patient = Invoice.from_dict(probe).patient
    except BillingError as exc:
        raise BillingError(exc.detail, field=exc.field.removeprefix("patient.")) from None
    assert patient is not None
    value = {"patient_id": pid, **{k: fields.get(k) for k in PATIENT_FIELDS if k in fields}}
    return LoadItem("patient", pid, None, encode(value))


def _range(raw: object) -> tuple[str, str, int, int]:
    if not isinstance(raw, dict):
        raise BillingError("expected an object", field="$")
    rid, prof, first, last = (raw.get(k) for k in ("range_id", "professional_id", "first", "last"))
    for name, value in (("range_id", rid), ("professional_id", prof)):
        if not isinstance(value, str) or not ID.fullmatch(value):
            raise BillingError("1-64 of [A-Za-z0-9._:-]", field=name)
    for name, value in (("first", first), ("last", last)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 999_999_999:
            raise BillingError("an integer 1..999999999", field=name)
    if first > last:
        raise BillingError("first must not exceed last", field="last")
    return rid, prof, first, last


def _serial(value: object) -> str:
    if not isinstance(value, str) or not SERIAL.fullmatch(value):
        raise BillingError("1-32 letters or digits", field="serial")
    return value


# ---- JSON -------------------------------------------------------------------------------------
def _json_lines(text: str):
    """A function path -> line (1-based) from a YAML node tree of the JSON text."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        root = None

    def line_of(path: list) -> int | None:
        node, line = root, None
        for step in path:
            if node is None:
                break
            line = node.start_mark.line + 1
            if isinstance(node, yaml.MappingNode):
                node = next((v for k, v in node.value if k.value == step), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
                node = node.value[step]
            else:
                node = None
        return node.start_mark.line + 1 if node is not None else line

    return line_of


def _field_path(field_text: str) -> list:
    path: list = []
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", field_text or ""):
        path.append(int(part[1:-1]) if part.startswith("[") else part)
    return path


def read_json(name: str, text: str, out: LoadSet) -> None:
    if not text.strip():
        out.problems.append(LoadProblem(name, None, "", "empty file (expected a JSON object)"))
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        out.problems.append(LoadProblem(name, exc.lineno, "", f"not JSON: {exc.msg}"))
        return
    if not isinstance(data, dict):
        out.problems.append(LoadProblem(name, 1, "", "expected a JSON object with sections"))
        return
    line_of = _json_lines(text)
    sections = {"invoices": _invoice, "patients": _patient, "fse_ranges": _range,
                "opposition": _serial}
    for key in sorted(set(data) - set(sections) - {"tariffs"}):
        out.problems.append(LoadProblem(name, line_of([key]), key, "unknown section"))
    for key, parse in sections.items():
        if key not in data:
            continue
        values = data[key]
        if not isinstance(values, list):
            out.problems.append(LoadProblem(name, line_of([key]), key, "expected a list"))
            continue
        for i, raw in enumerate(values):
            try:
                value = parse(raw)
            except BillingError as exc:
                sub = "" if exc.field in ("", "$", "serial") else exc.field
                path = [key, i, *_field_path(sub)]
                label = f"{key}[{i}]" + (f".{sub}" if sub else "")
                out.problems.append(LoadProblem(name, line_of(path), label, exc.detail or str(exc)))
                continue
            if key == "opposition":
                out.opposition.add(value)
            else:
                id_field = {"invoices": "invoice_id", "patients": "patient_id",
                            "fse_ranges": "range_id"}[key]
                out.add(value, LoadProblem(name, line_of([key, i, id_field]),
                                           f"{key}[{i}].{id_field}", ""))
    if "tariffs" in data:
        table = data["tariffs"]
        try:
            TariffTable.from_dict(table)
            tid = table.get("tariff_id", "current")
            if not isinstance(tid, str) or not ID.fullmatch(tid):
                raise BillingError("1-64 of [A-Za-z0-9._:-]", field="tariff_id")
        except BillingError as exc:
            path = ["tariffs", *_field_path(exc.field if exc.field != "$" else "")]
            out.problems.append(LoadProblem(name, line_of(path), f"tariffs.{exc.field}".rstrip(".$"),
                                            exc.detail or str(exc)))
        else:
            out.add(LoadItem("tariff", tid, None, encode(table)),
                    LoadProblem(name, line_of(["tariffs"]), "tariffs", ""))


# ---- CSV --------------------------------------------------------------------------------------
def _cells(row: dict[str, str]) -> dict[str, Any]:
    """Empty cells are absent; integer columns become integers (or stay text: then the
    validator names the field)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        value = (value or "").strip()
        if value == "":
            continue
        if key in INT_FIELDS and re.fullmatch(r"-?\d+", value):
            out[key] = int(value)
        else:
            out[key] = value
    return out


def read_csv(name: str, text: str, out: LoadSet) -> None:
    if not text.strip():
        out.problems.append(LoadProblem(name, None, "", "empty file (expected a header row)"))
        return
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in reader.fieldnames or []]
    reader.fieldnames = columns
    header = set(columns)

    def problem(line: int, field_name: str, message: str) -> None:
        out.problems.append(LoadProblem(name, line, field_name, message))

    def where(line: int, field_name: str) -> LoadProblem:
        return LoadProblem(name, line, field_name, "")

    def columns_ok(known: tuple[str, ...]) -> bool:
        unknown = [c for c in columns if c not in known]
        for c in unknown:
            problem(1, c or "(empty)", f"unknown column (known: {', '.join(known)})")
        if len(set(columns)) != len(columns):
            problem(1, "", "a column name appears twice in the header")
            return False
        return not unknown

    try:
        raw_rows = [(reader.line_num, r) for r in reader]
    except csv.Error as exc:
        problem(reader.line_num, "", f"not CSV: {exc}")
        return
    extra = next((ln for ln, r in raw_rows if None in r), None)
    if extra is not None:
        problem(extra, "", f"more cells than the {len(columns)} header columns")
        return
    rows = [(ln, _cells(r)) for ln, r in raw_rows]
    if {"invoice_id", "code"} <= header:
        if columns_ok(CSV_INVOICE_COLUMNS):
            _csv_invoices(rows, problem, out, where)
    elif "patient_id" in header:
        if columns_ok(CSV_PATIENT_COLUMNS):
            for line, cells in rows:
                try:
                    out.add(_patient(cells), where(line, "patient_id"))
                except BillingError as exc:
                    problem(line, exc.field, exc.detail or str(exc))
    elif "range_id" in header:
        if columns_ok(CSV_RANGE_COLUMNS):
            for line, cells in rows:
                try:
                    out.add(_range(cells), where(line, "range_id"))
                except BillingError as exc:
                    problem(line, exc.field, exc.detail or str(exc))
    elif header == {"serial"}:
        for line, cells in rows:
            try:
                out.opposition.add(_serial(cells.get("serial")))
            except BillingError as exc:
                problem(line, "serial", exc.detail)
    else:
        problem(1, "", "unknown CSV header: expected invoice, patient, range or serial columns")


def _csv_invoices(rows, problem, out: LoadSet, where) -> None:
    groups: dict[str, list[tuple[int, dict]]] = {}
    for line, cells in rows:
        groups.setdefault(str(cells.get("invoice_id", "")), []).append((line, cells))
    for invoice_id, members in groups.items():
        first_line, first = members[0]
        raw: dict[str, Any] = {k: first[k] for k in INVOICE_COLUMNS if k in first}
        patient = {k[8:]: v for k, v in first.items() if k.startswith("patient_")}
        if patient:
            raw["patient"] = patient
        if "prescriber_id" in first or "prescription_date" in first:
            raw["prescription"] = {"prescriber_id": first.get("prescriber_id", ""),
                                   "date": first.get("prescription_date"),
                                   "prescriber_name": first.get("prescriber_name", "")}
        raw["lines"] = [{k: c[k] for k in LINE_COLUMNS if k in c} for _, c in members]
        clash = next(((ln, k) for ln, c in members[1:] for k in INVOICE_COLUMNS
                      if c.get(k) != first.get(k)), None)
        if clash is not None:
            problem(clash[0], clash[1], f"differs from line {first_line} of invoice {invoice_id}")
            continue
        try:
            out.add(_invoice(raw), where(first_line, "invoice_id"))
        except BillingError as exc:
            line, column = first_line, exc.field
            m = re.fullmatch(r"lines\[(\d+)\]\.(\w+)", exc.field)
            if m and int(m.group(1)) < len(members):
                line, column = members[int(m.group(1))][0], m.group(2)
            elif exc.field.startswith("patient."):
                column = "patient_" + exc.field[8:]
            elif exc.field.startswith("prescription."):
                column = {"date": "prescription_date"}.get(exc.field[13:], exc.field[13:])
            problem(line, column, exc.detail or str(exc))


def read_files(paths: list[Path]) -> LoadSet:
    """Read and validate every file; raise LoadFilesError listing all problems."""
    out = LoadSet()
    for path in paths:
        name = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            out.problems.append(LoadProblem(name, None, "", f"cannot read: {exc}"))
            continue
        if name.lower().endswith(".csv"):
            read_csv(name, text, out)
        else:
            read_json(name, text, out)
    if out.problems:
        raise LoadFilesError(out.problems)
    return out

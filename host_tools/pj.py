"""Supporting documents (pièces justificatives, PJ; their scans travel by SCOR): which
documents each FSE needs, the checks a file passes before it is attached, where it is
kept, and when it is purged (docs/pj.md).

- Needed: the FSE payload's ``pj`` list (firmware/billing/modes.py): ``ORDN`` the
  prescription, for prescribed care; ``FSP`` the paper care sheet signed by the
  patient, in degraded mode.
- A file is a PDF, a JPEG or a PNG that opens whole, with 1..MAX_PAGES pages and at
  least MIN_DPI dots per inch on every scanned page (see :func:`check_file`).
- Kept in the office database itself (``pj_documents.content``), so every office PC
  sharing a PostgreSQL database sees the same documents and a backup of the database
  holds them.
- Purged (content dropped, the record kept) RETENTION_DAYS after transmission: the
  FSE was accepted by the organism in an accepted lot (its ARL, lots.md); the day of
  transmission is the ARL's ``received_at``.
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, select, update

from firmware.billing import modes

from . import office_lots
from . import office_schema as s
from .cli_common import UsageError
from .office_db import OfficeDb, OfficeDbError

PJ_TYPES = {modes.PJ_PRESCRIPTION: "the prescription",
            modes.PJ_PAPER_SHEET: "the paper care sheet signed by the patient"}
MIN_DPI = 200
MAX_PAGES = 20
MAX_BYTES = 20 * 1024 * 1024
RETENTION_DAYS = 90
# media_type of a document recorded as sent on paper (`tla pj paper`): no file, no scan
ON_PAPER = "paper"
A4_INCHES = (210 / 25.4, 297 / 25.4)  # the page a scan without a resolution is taken for
MEDIA = {b"%PDF-": "application/pdf", b"\xff\xd8\xff": "image/jpeg",
         b"\x89PNG\r\n\x1a\n": "image/png"}


class PjFileError(UsageError):
    """A file that cannot be attached: the message names the file and the field."""

    def __init__(self, path: str | Path, field: str, problem: str) -> None:
        super().__init__(f"{path}: {field}: {problem}")
        self.path, self.field = str(path), field


@dataclass(frozen=True)
class CheckedFile:
    path: str
    media_type: str
    pages: int
    dpi: int | None  # the lowest of the scanned pages; None: vector pages only (PDF)
    dpi_estimated: bool  # no resolution in the image: estimated for an A4 page
    content: bytes

    @property
    def sha256(self) -> bytes:
        return hashlib.sha256(self.content).digest()


def check_file(path: str | Path) -> CheckedFile:
    """Read ``path`` and check it opens, its page count and its resolution."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise PjFileError(path, "file", f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise PjFileError(path, "size", f"{len(data)} bytes, above the {MAX_BYTES} a "
                          "document may have")
    media = next((m for magic, m in MEDIA.items() if data.startswith(magic)), None)
    if media is None:
        raise PjFileError(path, "format", "not a PDF, JPEG or PNG file")
    if media == "application/pdf":
        pages, dpi = _pdf(path, data)
        estimated = False
    else:
        pages, dpi, estimated = 1, *_image(path, data)
    if not 1 <= pages <= MAX_PAGES:
        raise PjFileError(path, "pages", f"{pages} pages; a document has 1 to {MAX_PAGES}")
    if dpi is not None and dpi < MIN_DPI:
        how = " (estimated for an A4 page: the file gives no resolution)" if estimated else ""
        raise PjFileError(path, "resolution", f"{dpi} dpi{how}, below the {MIN_DPI} dpi a "
                          f"supporting document needs: scan it again at {MIN_DPI} dpi or more")
    return CheckedFile(str(path), media, pages, dpi, estimated, data)


def _image(path, data: bytes) -> tuple[int, bool]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()  # decodes every pixel: a truncated file fails here
            width, height = img.size
            density = img.info.get("dpi")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise PjFileError(path, "file", f"does not open as an image: {exc}") from None
    if density and min(density) >= 1:
        return round(min(density)), False
    short, long = sorted((width, height))
    return int(min(short / A4_INCHES[0], long / A4_INCHES[1])), True


def _pdf(path, data: bytes) -> tuple[int, int | None]:
    """Page count, and the lowest resolution of a page's largest image over that page."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise PjFileError(path, "file", "the PDF is encrypted (save it without a password)")
        lowest: int | None = None
        for page in reader.pages:
            images = _page_images(page.get("/Resources"), 0)
            if not images:
                continue  # text and drawings only: no resolution to measure
            width, height = max(images, key=lambda wh: wh[0] * wh[1])
            box = page.mediabox
            page_in = sorted((float(box.width) / 72, float(box.height) / 72))
            img_px = sorted((width, height))
            dpi = int(min(img_px[0] / page_in[0], img_px[1] / page_in[1]))
            lowest = dpi if lowest is None else min(lowest, dpi)
        return len(reader.pages), lowest
    except PjFileError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, ZeroDivisionError) as exc:
        raise PjFileError(path, "file", f"does not open as a PDF: {exc}") from None


def _page_images(resources, depth: int) -> list[tuple[int, int]]:
    """(width, height) in pixels of the images a page draws (through forms, 3 deep)."""
    if resources is None or depth > 3:
        return []
    xobjects = resources.get_object().get("/XObject")
    if xobjects is None:
        return []
    found = []
    for ref in xobjects.get_object().values():
        obj = ref.get_object()
        if obj.get("/Subtype") == "/Image":
            found.append((int(obj["/Width"]), int(obj["/Height"])))
        elif obj.get("/Subtype") == "/Form":
            found += _page_images(obj.get("/Resources"), depth + 1)
    return found


# ---- the office database -----------------------------------------------------------------
@dataclass(frozen=True)
class Attach:
    key: str  # import id or FSE id
    pj_type: str
    file: CheckedFile


def _fse_row(conn: Connection, key: str) -> tuple[int, str, list[str]]:
    f = s.fses.c
    rows = conn.execute(select(f.row_id, f.fse_id, f.cose).where(
        (f.import_id == key) | (f.fse_id == key))).all()
    if not rows:
        raise OfficeDbError("fse_unknown", f"no imported FSE {key}")
    if len(rows) > 1:
        raise OfficeDbError("fse_ambiguous", f"{key} names several FSEs; use the import id")
    row_id, fse_id, cose = rows[0]
    return row_id, fse_id, list(office_lots.payload_of(cose)["pj"])


def attach(db: OfficeDb, items: list[Attach], *, replace: bool = False) -> list[str]:
    """Store checked files for their FSEs, all in one transaction (or none: the first
    problem is raised). Returns the FSE ids."""
    p = s.pj_documents.c
    done = []
    with db.begin() as c:
        for item in items:
            row_id, fse_id, needed = _fse_row(c, item.key)
            if item.pj_type not in needed:
                wants = ", ".join(needed) or "none"
                raise PjFileError(item.file.path, "type", f"FSE {fse_id} needs no "
                                  f"{item.pj_type} (it needs: {wants})")
            if c.execute(select(p.row_id).where(p.fse_row == row_id,
                                                p.pj_type == item.pj_type)).first():
                if not replace:
                    raise PjFileError(item.file.path, "type", f"FSE {fse_id} already has its "
                                      f"{item.pj_type} (give --replace to change it)")
                c.execute(s.pj_documents.delete().where(p.fse_row == row_id,
                                                        p.pj_type == item.pj_type))
            f = item.file
            c.execute(s.pj_documents.insert().values(
                fse_row=row_id, pj_type=item.pj_type, media_type=f.media_type,
                file_name=Path(f.path).name, pages=f.pages, dpi=f.dpi,
                size_bytes=len(f.content), sha256=f.sha256, content=f.content,
                attached_at=time.time()))
            done.append(fse_id)
    return done


def mark_on_paper(db: OfficeDb, key: str, pj_type: str) -> str:
    """Record that an FSE's document went to the organism on paper (no scan kept): it is
    no longer missing, and the pilot report counts it as paper. Returns the FSE id."""
    p = s.pj_documents.c
    with db.begin() as c:
        row_id, fse_id, needed = _fse_row(c, key)
        if pj_type not in needed:
            raise OfficeDbError("pj_not_needed", f"FSE {fse_id} needs no {pj_type} (it needs: "
                                f"{', '.join(needed) or 'none'})")
        if c.execute(select(p.row_id).where(p.fse_row == row_id, p.pj_type == pj_type)).first():
            raise OfficeDbError("pj_present", f"FSE {fse_id} already has its {pj_type}")
        c.execute(s.pj_documents.insert().values(
            fse_row=row_id, pj_type=pj_type, media_type=ON_PAPER, file_name="", pages=0,
            dpi=None, size_bytes=0, sha256=b"", content=None, attached_at=time.time()))
    return fse_id


def documents(db: OfficeDb) -> dict[str, dict[str, dict]]:
    """import_id -> PJ type -> the stored document's fields (no content)."""
    p, f = s.pj_documents.c, s.fses.c
    with db.read() as c:
        rows = c.execute(select(f.import_id, p.pj_type, p.media_type, p.file_name, p.pages,
                                p.dpi, p.sha256, p.attached_at, p.purged_at)
                         .select_from(s.pj_documents.join(s.fses, f.row_id == p.fse_row))).all()
    out: dict[str, dict[str, dict]] = {}
    for r in rows:
        doc = dict(r._mapping)
        doc["status"] = ("paper" if doc["media_type"] == ON_PAPER else
                         "purged" if doc["purged_at"] is not None else "attached")
        out.setdefault(doc.pop("import_id"), {})[doc.pop("pj_type")] = doc
    return out


def missing(db: OfficeDb) -> list[tuple[dict, list[str]]]:
    """Imported FSEs still waiting for a needed document: (FSE fields, missing types)."""
    have = documents(db)
    f = s.fses.c
    with db.read() as c:
        covers = {imp: cose for imp, cose in c.execute(select(f.import_id, f.cose))}
    out = []
    for fields in db.fses():
        needed = office_lots.payload_of(covers[fields["import_id"]])["pj"]
        wanting = [t for t in needed if t not in have.get(fields["import_id"], {})]
        if wanting:
            out.append((fields, wanting))
    return out


def content(db: OfficeDb, key: str, pj_type: str) -> tuple[str, bytes]:
    """(file name, bytes) of an FSE's stored document."""
    p = s.pj_documents.c
    with db.read() as c:
        row_id, fse_id, _ = _fse_row(c, key)
        row = c.execute(select(p.file_name, p.content, p.purged_at, p.media_type).where(
            p.fse_row == row_id, p.pj_type == pj_type)).first()
    if row is None:
        raise OfficeDbError("pj_unknown", f"FSE {fse_id} has no {pj_type} attached")
    if row.media_type == ON_PAPER:
        raise OfficeDbError("pj_on_paper", f"the {pj_type} of FSE {fse_id} went on paper: "
                            "no scan is kept")
    if row.content is None:
        raise OfficeDbError("pj_purged", f"the {pj_type} of FSE {fse_id} was purged "
                            f"{RETENTION_DAYS} days after transmission")
    return row.file_name, row.content


def purgeable(db: OfficeDb, now: float) -> list[dict]:
    """Documents of FSEs transmitted more than RETENTION_DAYS before ``now``."""
    p, f, lf, lt = s.pj_documents.c, s.fses.c, s.lot_fses.c, s.lots.c
    limit = now - RETENTION_DAYS * 86400
    stmt = (select(p.row_id, f.fse_id, p.pj_type, p.size_bytes, lt.billing_number,
                   lt.lot_number, lt.arl_at)
            .select_from(s.pj_documents.join(s.fses, f.row_id == p.fse_row)
                         .join(s.lot_fses, lf.fse_row == f.row_id)
                         .join(s.lots, lt.row_id == lf.lot_row))
            .where(p.content.is_not(None), lf.status == "accepted", lt.status == "accepted",
                   lt.arl_at <= limit)
            .order_by(f.billing_number, f.fse_number, p.pj_type))
    with db.read() as c:
        return [dict(r._mapping) for r in c.execute(stmt)]


def purge(db: OfficeDb, rows: list[dict], now: float) -> int:
    """Drop the content of these documents (their record stays, ``purged_at`` set)."""
    p = s.pj_documents.c
    with db.begin() as c:
        return sum(c.execute(update(s.pj_documents).where(
            p.row_id == r["row_id"], p.content.is_not(None)).values(
            content=None, purged_at=now)).rowcount for r in rows)

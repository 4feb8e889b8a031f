"""The update bundle: an MCUboot image (imgtool's format) whose payload is a tar of wheels.

This is the ONE module that reads an MCUboot image, on the unit (the image group,
before anything is installed) and on the office (``tla bundle``, ``tla update``),
so both refuse the same files for the same reasons (docs/update.md).

Image layout (MCUboot ``bootutil/image.h``, imgtool ``image.py``; little-endian)::

    header (hdr_size bytes, the first 32 used)
      u32 magic 0x96f3b83d | u32 load_addr | u16 hdr_size | u16 protected TLV size
      u32 img_size | u32 flags | u8 major u8 minor u16 revision u32 build | u32 pad
    payload (img_size bytes)                       <- the tar, see below
    protected TLVs (optional): u16 magic 0x6908, u16 total (info included), TLVs
    TLVs:                      u16 magic 0x6907, u16 total (info included), TLVs
      each TLV: u8 type, u8 pad, u16 length, value
      0x10 SHA256  = SHA-256(header + payload + protected TLVs)  -> the image's ``hash``
      0x01 KEYHASH = SHA-256(DER SubjectPublicKeyInfo of the signing key)
      0x24 ED25519 = Ed25519 signature of the SHA256 TLV's 32 bytes (imgtool signs the digest)
      0x22 ECDSA_SIG = DER ECDSA P-256 signature, SHA-256, over header + payload + protected TLVs
    (0xff padding after the TLVs, as ``imgtool --pad`` writes, is allowed)

Payload: a POSIX tar holding ``manifest.json`` and the new version's wheels::

    {"format": "opentla-update/1", "version": "0.2.0", "boards": ["sim", "pi"],
     "wheels": {"opentla-0.2.0-py3-none-any.whl": "<sha256 hex>"},
     "seals": {"sim": "<64 hex>"}}            # optional: the seal per board

``verify_bundle(data, keys, board=...)`` returns a :class:`Bundle` or raises
:class:`BundleError` with a stable ``code`` (``bundle.bad_signature`` ...) and an
English message; nothing is ever installed from a file that did not pass it.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import struct
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import total_ordering
from pathlib import Path, PurePosixPath

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

IMAGE_MAGIC = 0x96F3B83D
HEADER = struct.Struct("<IIHHIIBBHII")  # 32 bytes, see the module docstring
HEADER_SIZE = HEADER.size
TLV_INFO = struct.Struct("<HH")
TLV_HEAD = struct.Struct("<BBH")
TLV_INFO_MAGIC = 0x6907
TLV_PROT_INFO_MAGIC = 0x6908

TLV_KEYHASH = 0x01
TLV_SHA256 = 0x10
TLV_SHA384 = 0x11
TLV_SHA512 = 0x12
TLV_ECDSA_SIG = 0x22
TLV_ED25519 = 0x24
TLV_SIG_PURE = 0x25

FLAG_ENCRYPTED = 0x04 | 0x08
FLAG_NON_BOOTABLE = 0x10
FLAG_COMPRESSED = 0x200 | 0x400

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "opentla-update/1"
MANIFEST_MAX = 64 * 1024
BUNDLE_MAX = 64 * 1024 * 1024  # the largest bundle a unit accepts (upload `len`)
_WHEEL = re.compile(r"[A-Za-z0-9_.+-]{1,200}\.whl")
_HEX64 = re.compile(r"[0-9a-f]{64}")

BUILTIN_KEYS_DIR = Path(__file__).with_name("keys")


class BundleError(ValueError):
    """A file refused as an update; ``code`` is stable (docs/update.md §Errors)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@total_ordering
@dataclass(frozen=True)
class ImageVersion:
    """MCUboot's ``struct image_version``; ordered on all four fields."""

    major: int
    minor: int = 0
    revision: int = 0
    build: int = 0

    def key(self) -> tuple[int, int, int, int]:
        return (self.major, self.minor, self.revision, self.build)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, ImageVersion):
            return NotImplemented
        return self.key() < other.key()

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.revision}"
        return f"{text}+{self.build}" if self.build else text

    @classmethod
    def parse(cls, text: str) -> ImageVersion:
        """``1.2.3`` or ``1.2.3+4`` (imgtool's ``--version`` syntax); BundleError otherwise."""
        m = re.fullmatch(r"(\d{1,3})\.(\d{1,3})\.(\d{1,5})(?:\+(\d{1,10}))?", text.strip())
        if m is None:
            raise BundleError("bundle.bad_version", f"version {text!r} is not MAJOR.MINOR.REV[+BUILD]")
        major, minor, rev = int(m[1]), int(m[2]), int(m[3])
        build = int(m[4] or 0)
        if major > 255 or minor > 255 or rev > 0xFFFF or build > 0xFFFFFFFF:
            raise BundleError("bundle.bad_version", f"version {text!r} is out of MCUboot's range")
        return cls(major, minor, rev, build)

    @classmethod
    def of_package(cls, text: str) -> ImageVersion:
        """The running package's version (PEP 440 ``0.1.0``, ``0.1.0+3``); ``0.0.0`` for
        anything else (a development tree), so any signed bundle is newer."""
        try:
            return cls.parse(text)
        except BundleError:
            return cls(0)


@dataclass(frozen=True)
class Tlv:
    kind: int
    value: bytes
    protected: bool


@dataclass(frozen=True)
class McubootImage:
    """A parsed (not yet trusted) image."""

    load_addr: int
    hdr_size: int
    protected_size: int
    img_size: int
    flags: int
    version: ImageVersion
    payload: bytes
    tlvs: tuple[Tlv, ...]
    signed_region: bytes  # header + payload + protected TLVs: what the hash covers

    def tlv(self, kind: int) -> list[bytes]:
        return [t.value for t in self.tlvs if t.kind == kind]

    @property
    def hash(self) -> bytes:
        """The SHA-256 TLV: the ``hash`` the image group reports and state write names."""
        values = self.tlv(TLV_SHA256)
        if len(values) != 1:
            raise BundleError("bundle.no_hash", "the image must carry exactly one SHA256 TLV")
        return values[0]


@dataclass(frozen=True)
class Manifest:
    version: str
    boards: tuple[str, ...]
    wheels: dict[str, str]  # file name -> SHA-256 hex
    seals: dict[str, str] = field(default_factory=dict)  # board -> seal hex


@dataclass(frozen=True)
class Bundle:
    """A bundle whose signature, hash, manifest and board all checked out."""

    image: McubootImage
    manifest: Manifest
    key_name: str  # which trusted key signed it

    @property
    def version(self) -> ImageVersion:
        return self.image.version

    @property
    def hash(self) -> bytes:
        return self.image.hash

    def wheels(self) -> dict[str, bytes]:
        """The wheels, by file name (their SHA-256 already checked)."""
        return _read_tar(self.image.payload)[1]


# ---- the image ---------------------------------------------------------------------
def parse_image(data: bytes) -> McubootImage:
    """Parse header and TLV areas; BundleError (truncated, bad magic...) otherwise."""
    if len(data) < HEADER_SIZE:
        raise BundleError("bundle.truncated", f"{len(data)} bytes: shorter than an MCUboot header")
    (magic, load_addr, hdr_size, prot_size, img_size, flags, major, minor, revision, build,
     _pad) = HEADER.unpack_from(data)
    if magic != IMAGE_MAGIC:
        raise BundleError("bundle.bad_magic", f"not an MCUboot image (magic 0x{magic:08x})")
    if hdr_size < HEADER_SIZE:
        raise BundleError("bundle.bad_header", f"header size {hdr_size} < {HEADER_SIZE}")
    if flags & FLAG_ENCRYPTED or flags & FLAG_COMPRESSED:
        raise BundleError("bundle.unsupported", "encrypted or compressed images are not accepted")
    if flags & FLAG_NON_BOOTABLE:
        raise BundleError("bundle.unsupported", "the image is flagged non-bootable")
    end = hdr_size + img_size
    if end + TLV_INFO.size > len(data):
        raise BundleError("bundle.truncated",
                          f"{len(data)} bytes: the header announces {end} + TLVs")
    off = end
    tlvs: list[Tlv] = []
    if prot_size:
        off = _read_tlv_area(data, off, TLV_PROT_INFO_MAGIC, tlvs, True, expect_total=prot_size)
    signed_end = off
    off = _read_tlv_area(data, off, TLV_INFO_MAGIC, tlvs, False)
    if any(b != 0xFF for b in data[off:]):
        raise BundleError("bundle.trailing_data", f"{len(data) - off} bytes after the TLV area")
    return McubootImage(load_addr, hdr_size, prot_size, img_size, flags,
                        ImageVersion(major, minor, revision, build), bytes(data[hdr_size:end]),
                        tuple(tlvs), bytes(data[:signed_end]))


def _read_tlv_area(data: bytes, off: int, magic: int, out: list[Tlv], protected: bool,
                   expect_total: int | None = None) -> int:
    if off + TLV_INFO.size > len(data):
        raise BundleError("bundle.truncated", "the file ends before its TLV area")
    found, total = TLV_INFO.unpack_from(data, off)
    if found != magic:
        raise BundleError("bundle.bad_tlv", f"TLV area magic 0x{found:04x}, expected 0x{magic:04x}")
    if expect_total is not None and total != expect_total:
        raise BundleError("bundle.bad_tlv", f"protected TLVs of {total} bytes, header says "
                                            f"{expect_total}")
    end = off + total
    if total < TLV_INFO.size or end > len(data):
        raise BundleError("bundle.truncated", f"the TLV area needs {end} bytes, file has {len(data)}")
    pos = off + TLV_INFO.size
    while pos < end:
        if pos + TLV_HEAD.size > end:
            raise BundleError("bundle.bad_tlv", "a TLV header crosses the end of its area")
        kind, _, length = TLV_HEAD.unpack_from(data, pos)
        pos += TLV_HEAD.size
        if pos + length > end:
            raise BundleError("bundle.bad_tlv", f"TLV 0x{kind:02x} crosses the end of its area")
        out.append(Tlv(kind, bytes(data[pos:pos + length]), protected))
        pos += length
    return end


# ---- trusted keys and the signature ------------------------------------------------------
@dataclass(frozen=True)
class TrustedKey:
    name: str
    key: Ed25519PublicKey | ec.EllipticCurvePublicKey

    @property
    def der(self) -> bytes:
        return self.key.public_bytes(serialization.Encoding.DER,
                                     serialization.PublicFormat.SubjectPublicKeyInfo)

    @property
    def keyhash(self) -> bytes:
        return hashlib.sha256(self.der).digest()


def load_key(path: str | Path) -> TrustedKey:
    """A PEM public key (or private key: its public half), Ed25519 or ECDSA P-256."""
    path = Path(path)
    data = path.read_bytes()
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        key = serialization.load_pem_private_key(data, password=None).public_key()
    if isinstance(key, ec.EllipticCurvePublicKey) and not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(f"{path}: ECDSA keys must be P-256")
    if not isinstance(key, Ed25519PublicKey | ec.EllipticCurvePublicKey):
        raise ValueError(f"{path}: not an Ed25519 or ECDSA P-256 key")
    return TrustedKey(path.name, key)


def load_keys(paths: Iterable[str | Path]) -> list[TrustedKey]:
    """Every ``*.pem`` of each directory, or each file named."""
    keys: list[TrustedKey] = []
    for entry in paths:
        p = Path(entry)
        files = sorted(p.glob("*.pem")) if p.is_dir() else [p]
        keys.extend(load_key(f) for f in files)
    return keys


def builtin_keys() -> list[TrustedKey]:
    """The keys built into the firmware: the DEVELOPMENT key (docs/update.md §Keys)."""
    return load_keys([BUILTIN_KEYS_DIR])


def check_signature(image: McubootImage, keys: Sequence[TrustedKey]) -> TrustedKey:
    """The trusted key whose signature the image carries; BundleError otherwise."""
    if image.tlv(TLV_SIG_PURE):
        raise BundleError("bundle.unsupported", "pure Ed25519 images (no SHA256 TLV) are refused")
    digest = image.hash
    if hashlib.sha256(image.signed_region).digest() != digest:
        raise BundleError("bundle.bad_hash", "the SHA256 TLV does not match the image")
    keyhashes = image.tlv(TLV_KEYHASH)
    for key in keys:
        if keyhashes and key.keyhash not in keyhashes:
            continue
        try:
            if isinstance(key.key, Ed25519PublicKey):
                for sig in image.tlv(TLV_ED25519):
                    key.key.verify(sig, digest)
                    return key
            else:
                for sig in image.tlv(TLV_ECDSA_SIG):
                    der = sig[:sig[1] + 2] if len(sig) > 2 else sig  # imgtool may pad with 0
                    key.key.verify(der, image.signed_region, ec.ECDSA(hashes.SHA256()))
                    return key
        except (InvalidSignature, ValueError):
            continue
    if not image.tlv(TLV_ED25519) and not image.tlv(TLV_ECDSA_SIG):
        raise BundleError("bundle.unsigned", "the image carries no Ed25519 or ECDSA signature")
    raise BundleError("bundle.bad_signature",
                      "the signature does not verify under any key built into the unit")


# ---- the payload -------------------------------------------------------------------------
def _read_tar(payload: bytes) -> tuple[dict, dict[str, bytes]]:
    try:
        tar = tarfile.open(fileobj=io.BytesIO(payload), mode="r:")
        members = tar.getmembers()
    except (tarfile.TarError, EOFError) as exc:
        raise BundleError("bundle.bad_payload", f"the payload is not a tar archive: {exc}") from None
    files: dict[str, bytes] = {}
    manifest: dict | None = None
    with tar:
        for m in members:
            name = PurePosixPath(m.name)
            if not m.isfile() or name.is_absolute() or ".." in name.parts:
                raise BundleError("bundle.bad_payload", f"payload entry {m.name!r} is not a "
                                                         "plain relative file")
            extracted = tar.extractfile(m)
            data = extracted.read() if extracted is not None else b""
            if m.name == MANIFEST_NAME:
                if len(data) > MANIFEST_MAX:
                    raise BundleError("bundle.bad_manifest", "manifest.json is too large")
                try:
                    manifest = json.loads(data.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    raise BundleError("bundle.bad_manifest", f"manifest.json: {exc}") from None
            elif len(name.parts) == 2 and name.parts[0] == "wheels":
                files[name.parts[1]] = data
            else:
                raise BundleError("bundle.bad_payload", f"unexpected payload entry {m.name!r}")
    if not isinstance(manifest, dict):
        raise BundleError("bundle.bad_manifest", "the payload has no manifest.json object")
    return manifest, files


def parse_manifest(raw: dict, files: dict[str, bytes]) -> Manifest:
    def bad(field_name: str, why: str) -> BundleError:
        return BundleError("bundle.bad_manifest", f"manifest.json: {field_name}: {why}")

    if raw.get("format") != MANIFEST_FORMAT:
        raise bad("format", f"must be {MANIFEST_FORMAT!r}")
    version, boards, wheels = raw.get("version"), raw.get("boards"), raw.get("wheels")
    seals = raw.get("seals", {})
    if not isinstance(version, str):
        raise bad("version", "must be a text")
    if not isinstance(boards, list) or not boards or not all(isinstance(b, str) for b in boards):
        raise bad("boards", "must be a non-empty list of board kinds")
    if not isinstance(wheels, dict) or not wheels:
        raise bad("wheels", "must map wheel file names to their SHA-256")
    for name, digest in wheels.items():
        if not _WHEEL.fullmatch(name) or not isinstance(digest, str) or not _HEX64.fullmatch(digest):
            raise bad(f"wheels.{name}", "must be NAME.whl: 64 lower-case hex digits")
        if name not in files:
            raise bad(f"wheels.{name}", "listed but not in the payload")
        if hashlib.sha256(files[name]).hexdigest() != digest:
            raise bad(f"wheels.{name}", "SHA-256 does not match")
    extra = set(files) - set(wheels)
    if extra:
        raise bad("wheels", f"payload files not listed: {', '.join(sorted(extra))}")
    if not isinstance(seals, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and _HEX64.fullmatch(v)
            for k, v in seals.items()):
        raise bad("seals", "must map board kinds to 64 hex digits")
    return Manifest(version, tuple(boards), dict(wheels), dict(seals))


# ---- the whole check ---------------------------------------------------------------------
def verify_bundle(data: bytes, keys: Sequence[TrustedKey], *, board: str | None = None,
                  running: ImageVersion | None = None, upgrade: bool = False,
                  allow_downgrade: bool = False) -> Bundle:
    """Everything a unit checks before installing (the office checks the same):

    image well formed; SHA256 TLV right; signed by one of ``keys``; payload a tar with a
    valid manifest whose version equals the header's; for ``board`` (when given);
    compared with ``running`` (when given): ``upgrade`` refuses a version that is not
    newer, and an older one is refused unless ``allow_downgrade`` (the technician flag).
    """
    image = parse_image(data)
    key = check_signature(image, keys)
    raw, files = _read_tar(image.payload)
    manifest = parse_manifest(raw, files)
    if ImageVersion.parse(manifest.version) != image.version:
        raise BundleError("bundle.bad_manifest", f"manifest.json: version: {manifest.version} "
                                                 f"but the image header says {image.version}")
    if board is not None and board not in manifest.boards:
        raise BundleError("bundle.wrong_board", f"bundle for {', '.join(manifest.boards)}, "
                                                f"not for this {board} unit")
    if running is not None:
        if upgrade and not image.version > running:
            raise BundleError("bundle.not_newer", f"version {image.version} is not newer than "
                                                  f"the running {running}")
        if image.version < running and not allow_downgrade:
            raise BundleError("bundle.downgrade", f"version {image.version} is older than the "
                              f"running {running}: a technician must allow downgrades")
    return Bundle(image, manifest, key.name)


def build_payload(version: str, boards: Sequence[str], wheels: dict[str, bytes],
                  seals: dict[str, str] | None = None) -> bytes:
    """The payload tar for ``imgtool sign`` (what ``tla bundle build`` wraps): manifest
    first, then ``wheels/NAME``; deterministic (fixed mtime, owner, order)."""
    manifest: dict = {"format": MANIFEST_FORMAT, "version": version, "boards": list(boards),
                      "wheels": {n: hashlib.sha256(d).hexdigest() for n, d in sorted(wheels.items())}}
    if seals:
        manifest["seals"] = dict(sorted(seals.items()))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:", format=tarfile.PAX_FORMAT) as tar:
        entries = [(MANIFEST_NAME, json.dumps(manifest, indent=1, sort_keys=True).encode())]
        entries += [(f"wheels/{n}", d) for n, d in sorted(wheels.items())]
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()

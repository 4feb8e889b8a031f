"""Bench: FSEs built and verified per second, payload size, signature checks.

Run:  .venv/bin/python bench/fse.py [--batch 10000] [--json]

Build = checks + pricing + deterministic CBOR + 3 signatures (CPS and Vitale RS256
with software RSA-2048 keys standing in for the cards, unit Ed25519). On the unit
the card signatures happen in the cards: their time belongs to the card link bench.
Verify = structure + deterministic-CBOR proof + 2 RSA + 1 Ed25519 verifications +
chain check (cached after the first FSE of a card) + mode rules.
Rates use the process CPU time (one core, whatever else the machine runs);
the wall-clock verify rate is printed too. Bound compared against: the batch target of >= 2,000 FSE/s verified on one core
(10,000 FSEs in <= 5 s).
Crypto floor (``crypto_floor_per_s``): the same FSEs' three signature checks alone (2
RSA-2048 PKCS#1 v1.5 SHA-256 and 1 Ed25519 verifications, same keys, same run, the
Sig_structures encoded beforehand): what the crypto library allows; ``verify_per_s``
reads against it (target >= 0.8x, ``verify_vs_floor``). The two are timed in turn,
``CHUNK`` FSEs at a time, so that they see the same machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from firmware.billing import cose  # noqa: E402
from firmware.billing.checks import CheckContext  # noqa: E402
from firmware.billing.cose import CardSigner, DeviceSigner  # noqa: E402
from firmware.billing.fse import build_fse  # noqa: E402
from firmware.billing.invoice import Invoice  # noqa: E402
from firmware.billing.tariffs import TariffTable  # noqa: E402
from firmware.billing.trust import CardAuthorities  # noqa: E402
from firmware.billing.verify import FseVerifier  # noqa: E402
from firmware.cardapps.model import (  # noqa: E402
    Beneficiary,
    PartialDate,
    ProfessionalCard,
    RightsPeriod,
    Situation,
    VitaleCard,
)

TARGET_VERIFY_PER_S = 2000
CHUNK = 1000  # FSEs timed at a time, verify and floor in turn
TARGET_FLOOR_RATIO = 0.8


def crypto_floor(batch: list[bytes], device_public: bytes) -> float:
    """CPU seconds of the bare signature checks of ``batch`` (what verify cannot avoid)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    rsa_keys: dict[bytes, object] = {}
    unit_key = Ed25519PublicKey.from_public_bytes(device_public)
    checks = []
    for data in batch:  # decode and encode outside the timing: only the crypto is timed
        msg = cose.parse(data)
        for sig in msg.signatures:
            if sig.role == "unit":
                checks.append((None, sig.signature, msg.to_be_signed(sig)))
            else:
                leaf = sig.chain()[0]
                if leaf not in rsa_keys:
                    rsa_keys[leaf] = x509.load_der_x509_certificate(leaf).public_key()
                checks.append((rsa_keys[leaf], sig.signature, msg.to_be_signed(sig)))
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
    c0 = time.process_time()
    for key, signature, tbs in checks:
        if key is None:
            unit_key.verify(signature, tbs)
        else:
            key.verify(signature, tbs, pkcs1, sha256)
    return time.process_time() - c0


def _cert(cn, key, issuer, ikey, ca):
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
         .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(datetime(2024, 1, 1, tzinfo=UTC))
         .not_valid_after(datetime(2030, 1, 1, tzinfo=UTC))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    return b.sign(ikey, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _card(cert, key):
    return CardSigner(cert, lambda d: key.sign(d, padding.PKCS1v15(),
                                               utils.Prehashed(hashes.SHA256())))


def setup():
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _cert("Bench Root", root_key, "Bench Root", root_key, True)
    cps_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    vit_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cps_cert = _cert("CPS", cps_key, "Bench Root", root_key, False)
    vit_cert = _cert("Vitale", vit_key, "Bench Root", root_key, False)
    dev_key = Ed25519PrivateKey.generate()
    seal = bytes(32)
    sit = Situation(0, "123456789", "60", "00", "1", "30", True, True)
    ps = ProfessionalCard("CPS", "8", "810001234567", "MARTIN", "CLAIRE", "CPS1",
                          date(2028, 1, 1), (sit,))
    ben = Beneficiary(0, "DUPONT", "JEAN", PartialDate(1980, 1, 15), 1, "00", "1800175123456",
                      "42", "01", "341", "0000", (RightsPeriod(date(2025, 1, 1), None),))
    card = VitaleCard("0123456789", "vitale2", None, ben.nir, (ben,))
    inv = Invoice.from_dict({
        "invoice_id": "INV-1", "billing_number": "123456789", "profession": "60",
        "date_of_care": "2026-03-10", "tiers_payant": "amo",
        "prescription": {"prescriber_id": "10001234567", "date": "2026-03-01"},
        "lines": [{"code": "AMI", "coefficient": "1.5"}, {"code": "AMI", "coefficient": "4"},
                  {"code": "IFD"}, {"code": "IK", "km": "12"}]})
    ctx = CheckContext(inv, "secured", TariffTable.load_sample(), ps, sit, date(2026, 3, 10),
                       vitale=card, beneficiary=ben)
    signers = dict(cps=_card(cps_cert, cps_key), vitale=_card(vit_cert, vit_key),
                   device=DeviceSigner("TLA-0001", dev_key, seal))
    pub = dev_key.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
    return ctx, signers, root, pub, seal


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=10_000, help="FSEs to verify (default 10000)")
    ap.add_argument("--build", type=int, default=300, help="FSEs to build (default 300)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    ctx, signers, root, pub, seal = setup()
    at = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)

    t0 = time.process_time()
    built = [build_fse(replace(ctx), number=n, unit_id="TLA-0001", signed_at=at, **signers)
             for n in range(1, args.build + 1)]
    build_s = time.process_time() - t0
    # the batch: distinct FSEs (distinct numbers) cycled up to the batch size
    batch = [built[i % len(built)].encoded for i in range(args.batch)]
    verifier = FseVerifier(CardAuthorities([root]), {"TLA-0001": pub}, reference_seals=[seal])
    # verify and the floor timed chunk by chunk, in turn (the order swapped every chunk):
    # one after the other, a shared machine's load shifts between them and the ratio
    # swings by +-0.07
    verify_wall = verify_s = floor_s = 0.0
    for n, start in enumerate(range(0, len(batch), CHUNK)):
        chunk = batch[start:start + CHUNK]
        for step in ("verify", "floor") if n % 2 == 0 else ("floor", "verify"):
            if step == "floor":
                floor_s += crypto_floor(chunk, pub)
                continue
            t0, c0 = time.perf_counter(), time.process_time()
            for data in chunk:
                verifier.verify(data)
            verify_wall += time.perf_counter() - t0
            verify_s += time.process_time() - c0  # CPU time of this one-threaded process

    result = {
        "build_per_s": round(args.build / build_s, 1),
        "verify_per_s": round(args.batch / verify_s, 1),
        "batch": args.batch,
        "batch_verify_s": round(verify_s, 3),
        "verify_per_s_wall": round(args.batch / verify_wall, 1),
        "crypto_floor_per_s": round(args.batch / floor_s, 1),
        "verify_vs_floor": round(floor_s / verify_s, 3),
        "target_verify_vs_floor": TARGET_FLOOR_RATIO,
        "target_verify_per_s": TARGET_VERIFY_PER_S,
        "payload_bytes": len(built[0].payload_bytes),
        "fse_bytes": len(built[0].encoded),
        "signature_checks_per_fse": 3,
        "chain_cache_hits": verifier.trust.cache_hits,
        "chain_cache_misses": verifier.trust.cache_misses,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"build : {result['build_per_s']:>9.1f} FSE/s  ({args.build} FSEs, 3 signatures "
              "each, RSA in software)")
        print(f"verify: {result['verify_per_s']:>9.1f} FSE/s  ({args.batch} FSEs in "
              f"{verify_s:.2f} s CPU, {result['verify_per_s_wall']:.1f} FSE/s wall; "
              f"bound: >= {TARGET_VERIFY_PER_S} FSE/s)")
        print(f"floor : {result['crypto_floor_per_s']:>9.1f} FSE/s  (the 3 signature checks "
              f"alone, same FSEs and keys); verify = {result['verify_vs_floor']:.2f}x of it "
              f"(target >= {TARGET_FLOOR_RATIO}x)")
        print(f"size  : payload {result['payload_bytes']} B, FSE {result['fse_bytes']} B; "
              f"chain cache {result['chain_cache_hits']} hits / "
              f"{result['chain_cache_misses']} misses")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

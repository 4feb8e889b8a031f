"""One real ``tla bundle build`` per test session (pip builds this tree's wheel, the real
imgtool signs): the tests that need a real bundle share it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from billing.conftest import pki, tariffs  # noqa: F401 - fixtures shared with tests/billing

from host_tools.cli import main as tla

VERSION = "0.2.0"


@dataclass(frozen=True)
class Built:
    path: Path
    out: str


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Built:
    import contextlib
    import io

    work = tmp_path_factory.mktemp("bundle")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = tla(["--keys", str(work / "keys.json"), "bundle", "build", "--version", VERSION,
                  "-o", str(work / f"opentla-{VERSION}.bundle")])
    assert rc == 0, out.getvalue()
    return Built(work / f"opentla-{VERSION}.bundle", out.getvalue())


@pytest.fixture(scope="session")
def our_wheel(built, tmp_path_factory) -> Path:
    """The tree's wheel from the shared bundle, to sign other bundles without pip."""
    from firmware.update import bundle as fmt

    checked = fmt.verify_bundle(built.path.read_bytes(), fmt.builtin_keys())
    [(name, data)] = checked.wheels().items()
    path = tmp_path_factory.mktemp("wheel") / name
    path.write_bytes(data)
    return path

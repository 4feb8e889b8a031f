"""``tla update PORT BUNDLE`` and ``tla update --status PORT`` against a unit with A/B
slots on a pty (tests/update_office/harness.py): upload, resume after a cut cable,
test, reset, the unit's own confirmation or rollback; refusals with their exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from transfer.helpers import pair_host, run

from firmware.update import bundle as fmt
from host_tools import bundle_build
from host_tools.cli import main as tla

from .conftest import VERSION
from .harness import BUF, ImageUnit

SMPMGR = str(Path(sys.executable).parent / "smpmgr")


def cli(tmp_path, *args, timeout: float = 2.0) -> int:
    return tla(["--keys", str(tmp_path / "keys.json"), "--timeout", str(timeout), *args])


def make_unit(tmp_path, **options) -> ImageUnit:
    unit = ImageUnit(tmp_path, **options)
    run(pair_host(unit.path, tmp_path / "keys.json"))
    return unit


@pytest.fixture
def unit(tmp_path):
    unit = make_unit(tmp_path)
    yield unit
    unit.stop()


def other_bundle(tmp_path, our_wheel, *, version=VERSION, boards=("sim",), key=None) -> Path:
    wheel = our_wheel
    if version != VERSION:  # same code under another version's name: refused before install
        wheel = tmp_path / our_wheel.name.replace(VERSION, version)
        wheel.write_bytes(our_wheel.read_bytes())
    out = tmp_path / f"other-{version}-{'-'.join(boards)}.bundle"
    bundle_build.build_bundle(version, out, boards=boards, wheel=wheel,
                              key=key or bundle_build.DEV_KEY)
    return out


def image_hash(path: Path) -> bytes:
    return fmt.verify_bundle(path.read_bytes(), fmt.builtin_keys()).hash


def test_update_uploads_tests_restarts_and_shows_the_confirmed_version(unit, built, tmp_path,
                                                                       capsys):
    assert cli(tmp_path, "update", unit.path, str(built.path)) == 0
    out = capsys.readouterr()
    assert f"Unit TLA-UPD (sim) runs 0.1.0; installing {VERSION}." in out.out
    assert out.out.rstrip().endswith(f"Unit TLA-UPD now runs {VERSION}, confirmed.")
    assert unit.boots == ["a", "b"] and unit.outcomes == ["confirmed"]
    state = unit.slots.load()
    assert state.primary == "b" and state.slots["b"].hash == image_hash(built.path).hex()
    # the installed code's seal is the one the bundle's manifest gives for this board
    manifest = fmt.verify_bundle(built.path.read_bytes(), fmt.builtin_keys()).manifest
    assert state.slots["b"].seal == manifest.seals["sim"]
    # the standard tool reads the same state
    done = subprocess.run([SMPMGR, "--port", unit.path, "--timeout", "5", "image", "state-read"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    blocks = {b.split("slot=")[1].split(",")[0]: b for b in done.stdout.split("ImageState(")[1:]}
    assert f"version='{VERSION}'" in blocks["1"]
    assert image_hash(built.path).hex().upper() in blocks["1"]
    assert "confirmed=True" in blocks["1"] and "active=True" in blocks["1"]
    assert "active=False" in blocks["0"]
    # again: nothing to do
    assert cli(tmp_path, "update", unit.path, str(built.path)) == 0
    assert f"already runs {VERSION} (confirmed)" in capsys.readouterr().out
    assert unit.boots == ["a", "b"]


def test_a_cut_cable_stops_the_upload_and_a_rerun_resumes_at_the_units_offset(unit, built,
                                                                             tmp_path, capsys):
    unit.cut_after_uploads = 20
    assert cli(tmp_path, "update", unit.path, str(built.path), timeout=0.5) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: the upload stopped at byte ")
    assert err.endswith("(no answer): run tla update again, it resumes [update.interrupted]")
    held = unit.call(lambda: unit.service.upload.offset)  # what the unit has written
    assert held > 0 and unit.slots.load().slots["b"] is None  # nothing installed yet
    unit.call(unit.replug)
    before = unit.upload_answers
    assert cli(tmp_path, "update", unit.path, str(built.path)) == 0
    out = capsys.readouterr().out
    assert f"Resumed the upload at byte {held} of {built.path.stat().st_size}." in out
    assert out.rstrip().endswith(f"now runs {VERSION}, confirmed.")
    rerun = unit.upload_answers - before  # packets of the re-run
    size = built.path.stat().st_size
    assert rerun < size / BUF  # sending the whole file again takes more packets than this
    assert rerun <= (size - held) / (BUF - 200) + 2  # the rest, and the first (resume) packet


def test_a_version_that_fails_its_health_check_rolls_back_and_exits_1(tmp_path, built, capsys):
    unit = make_unit(tmp_path, health_ok=False)
    try:
        assert cli(tmp_path, "update", unit.path, str(built.path)) == 1
        err = capsys.readouterr().err.strip().splitlines()[-1]  # under the progress bar
        assert err == (f"error: the unit rolled back to 0.1.0: version {VERSION} did not pass "
                       "its health check (or did not start); nothing is lost, the unit runs its "
                       "previous version [update.rolled_back]")
        assert unit.boots == ["a", "b", "a"] and unit.outcomes == ["rolled_back"]
        assert unit.slots.load().primary == "a"
        assert cli(tmp_path, "update", "--status", unit.path, "--json") == 0
        status = json.loads(capsys.readouterr().out)
        by_slot = {s["slot"]: s for s in status["images"]}
        assert by_slot[0]["active"] and by_slot[0]["confirmed"] and by_slot[0]["version"] == "0.1.0"
        assert by_slot[1]["version"] == VERSION and not by_slot[1]["bootable"]
        assert not by_slot[1]["pending"]
    finally:
        unit.stop()


def test_status_shows_slots_versions_and_flags(unit, built, tmp_path, capsys):
    assert cli(tmp_path, "update", "--status", unit.path) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["image", "slot", "version", "hash", "state"]
    assert lines[1].split() == ["0", "0", "0.1.0", "11" * 8, "active", "confirmed", "bootable",
                                "permanent"]
    assert f"image 0 slot 1: {fmt.BUNDLE_MAX} bytes" in lines
    assert cli(tmp_path, "update", unit.path, str(built.path)) == 0
    capsys.readouterr()
    assert cli(tmp_path, "update", "--status", unit.path) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:4] == ["0", "0", "0.1.0", "11" * 8]
    assert lines[2].split() == ["0", "1", VERSION, image_hash(built.path).hex()[:16], "active",
                                "confirmed", "bootable", "permanent"]


def test_bad_bundle_files_exit_2_and_nothing_reaches_the_unit(unit, built, our_wheel, tmp_path,
                                                              capsys):
    cut = tmp_path / "cut.bundle"
    cut.write_bytes(built.path.read_bytes()[:50_000])
    text = tmp_path / "notes.txt"
    text.write_text("not a bundle, only some notes about one\n" * 4)
    key = tmp_path / "p256.pem"
    subprocess.run([str(Path(sys.executable).parent / "imgtool"), "keygen", "-k", str(key), "-t",
                    "ecdsa-p256"], check=True, capture_output=True)
    foreign = other_bundle(tmp_path, our_wheel, key=key)
    cases = {cut: "bundle.truncated", text: "bundle.bad_magic", foreign: "bundle.bad_signature"}
    for path, code in cases.items():
        assert cli(tmp_path, "update", unit.path, str(path)) == 2, code
        err = capsys.readouterr().err
        assert err.startswith(f"error: {path}: ") and err.endswith(f" [{code}]\n"), err
    assert cli(tmp_path, "update", unit.path, str(tmp_path / "nope.bundle")) == 2
    assert "nope.bundle: cannot read: No such file or directory" in capsys.readouterr().err
    assert unit.upload_answers == 0 and unit.slots.load().slots["b"] is None


def test_a_bundle_for_another_board_or_not_newer_is_refused_before_upload(tmp_path, our_wheel,
                                                                          capsys):
    unit = make_unit(tmp_path, board="pi")
    try:
        sim_only = other_bundle(tmp_path, our_wheel, boards=("sim",))
        assert cli(tmp_path, "update", unit.path, str(sim_only)) == 2
        assert capsys.readouterr().err == (f"error: {sim_only}: bundle for sim, not for this pi "
                                           "unit [bundle.wrong_board]\n")
        same = other_bundle(tmp_path, our_wheel, version="0.1.0", boards=("pi",))
        assert cli(tmp_path, "update", unit.path, str(same)) == 2
        assert capsys.readouterr().err == (f"error: {same}: version 0.1.0 is not newer than the "
                                           "running 0.1.0 [bundle.not_newer]\n")
        assert unit.upload_answers == 0 and unit.boots == ["a"]
    finally:
        unit.stop()


def test_an_unpaired_pc_is_refused_by_the_unit_with_its_code(unit, built, tmp_path, capsys):
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    assert cli(stranger, "update", unit.path, str(built.path)) == 1
    err = capsys.readouterr().err
    assert err.endswith("[group80.not_paired]\n") and err.count("\n") == 1
    assert unit.upload_answers == 0


@pytest.mark.parametrize(("args", "message"), [
    (["update", "{port}"], "give the bundle to install (tla update PORT BUNDLE) or --status"),
    (["update", "--status", "{port}", "{bundle}"], "--status takes the port only, not a bundle"),
    (["update", "--json", "{port}", "{bundle}"], "--json goes with --status"),
])
def test_usage_errors_exit_2(unit, built, tmp_path, capsys, args, message):
    args = [a.format(port=unit.path, bundle=built.path) for a in args]
    assert cli(tmp_path, *args) == 2
    assert capsys.readouterr().err == f"error: {message}\n"


def test_a_restart_longer_than_an_answer_shows_the_line_going_down_and_up(tmp_path, built,
                                                                          capsys):
    unit = make_unit(tmp_path, down_s=3.0)  # silent longer than connect + one request
    try:
        assert cli(tmp_path, "update", unit.path, str(built.path)) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[-4:] == ["Uploaded and verified; the unit restarts to test it.",
                              "The unit restarted (line down)...",
                              "The unit is back; waiting for its health check...",
                              f"Unit TLA-UPD now runs {VERSION}, confirmed."]
    finally:
        unit.stop()


def test_smpmgr_uploads_a_tla_bundle_as_an_mcuboot_image_in_update_mode(unit, built, tmp_path,
                                                                       capsys):
    """The standard tool inspects the bundle as an MCUboot image (it needs the SHA256 TLV)
    before it uploads it; the unit installs it; tla update --status sees it."""
    unit.call(lambda: unit.service.mode.open(unit.runner.clock()))  # Mise à jour, at the unit
    done = subprocess.run([SMPMGR, "--port", unit.path, "--line-buffers", "256",  # 32 KiB frames
                           "--timeout", "30", "image", "upload", str(built.path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    installed = unit.slots.load().slots["b"]
    assert installed is not None and installed.hash == image_hash(built.path).hex()
    assert cli(tmp_path, "update", "--status", unit.path) == 0
    row = capsys.readouterr().out.splitlines()[2].split()
    assert row == ["0", "1", VERSION, image_hash(built.path).hex()[:16], "bootable"]


@pytest.mark.parametrize("allowed", [False, True])
def test_an_older_version_needs_downgrade_and_the_units_technician_flag(tmp_path, our_wheel,
                                                                        capsys, allowed):
    unit = make_unit(tmp_path, allow_downgrade=allowed)
    try:
        older = other_bundle(tmp_path, our_wheel, version="0.0.9")
        assert cli(tmp_path, "update", unit.path, str(older)) == 2  # the office refuses first
        assert capsys.readouterr().err.endswith("[bundle.not_newer]\n")
        assert unit.upload_answers == 0
        rc = cli(tmp_path, "update", "--downgrade", unit.path, str(older))
        last = capsys.readouterr()
        if allowed:
            assert rc == 0 and last.out.rstrip().endswith("now runs 0.0.9, confirmed.")
        else:  # the unit checks the whole file, then refuses: nothing installed
            assert rc == 1
            assert last.err.strip().splitlines()[-1] == (
                "error: unit refused: group 1, CURRENT_VERSION_IS_NEWER "
                "[group1.current_version_is_newer]")
            assert unit.slots.load().slots["b"] is None and unit.boots == ["a"]
    finally:
        unit.stop()


def test_a_cut_after_the_install_needs_no_second_upload(unit, built, tmp_path, capsys):
    original = unit.outgoing

    def cut_after_upload(actions):  # the line drops once the last upload answer left
        kept = original(actions)
        if unit.slots.load().slots["b"] is not None:
            unit.cut = True
        return kept

    unit.outgoing = cut_after_upload
    assert cli(tmp_path, "update", unit.path, str(built.path), timeout=0.5) == 1
    assert "no answer from a unit" in capsys.readouterr().err
    assert unit.slots.load().slots["b"] is not None and unit.boots == ["a"]
    unit.outgoing = original
    unit.call(unit.replug)
    uploads = unit.upload_answers
    assert cli(tmp_path, "update", unit.path, str(built.path)) == 0
    out = capsys.readouterr().out
    assert f"The unit already holds {VERSION} in slot 1." in out
    assert out.rstrip().endswith(f"now runs {VERSION}, confirmed.")
    assert unit.upload_answers == uploads  # not one byte sent again

"""Keypad debounce (alone, fed times by hand), the sim twins, and the app's key
path: a key pressed while a pairing code shows answers the pairing."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from board.config import BoardConfig
from board.pi.display import Ssd1306Display
from board.pi.keypad import Debouncer
from board.sim.i2c import SimI2CBus
from board.sim.parts import SimDisplay, SimKeypad, build
from firmware.app import UnitApp, UnitThread
from firmware.office_link.events import PairingEnded, PairingRequested
from firmware.parts import Beep, Key, KeyEvent


def test_a_bouncing_contact_counts_once_after_it_holds():
    d = Debouncer(hold_s=0.03)
    # contact bounces closed/open for 10 ms, then holds closed
    assert d.feed({Key.D5}, 0.000) == []
    assert d.feed(set(), 0.004) == []
    assert d.feed({Key.D5}, 0.008) == []
    assert d.feed({Key.D5}, 0.030) == []  # held 22 ms since the last bounce
    assert d.feed({Key.D5}, 0.038) == [KeyEvent(Key.D5, True, 0.038)]
    assert d.feed({Key.D5}, 0.100) == []  # held: no repeat
    assert d.feed(set(), 0.110) == []
    assert d.feed(set(), 0.140) == [KeyEvent(Key.D5, False, 0.140)]


def test_two_keys_at_once_are_two_events_in_key_order():
    d = Debouncer(hold_s=0.01)
    d.feed({Key.VALIDER, Key.D1}, 0.0)
    assert [e.key for e in d.feed({Key.VALIDER, Key.D1}, 0.02)] == [Key.D1, Key.VALIDER]


def test_sim_display_keeps_every_frame_and_refuses_a_wrong_size():
    display = SimDisplay()
    display.show(Image.new("1", (128, 64), 1))
    display.show(Image.new("L", (128, 64), 0))
    assert [f.mode for f in display.frames] == ["1", "1"]
    assert display.frames[0].getpixel((5, 5)) == 1 and display.frames[1].getpixel((5, 5)) == 0
    with pytest.raises(ValueError) as exc:
        display.show(Image.new("1", (128, 32)))
    assert "128x64, not 128x32" in str(exc.value)


def test_the_real_display_driver_sends_a_whole_frame_over_the_sim_bus():
    bus = SimI2CBus()
    display = Ssd1306Display(bus)
    before = bus.display.data_bytes
    display.show(Image.new("1", (128, 64), 1))
    assert bus.display.data_bytes - before == 128 * 64 // 8  # 8 pages of 128 columns
    display.power_save(True)
    assert bus.display.commands[-1] == 0xAE  # DISPLAYOFF


def test_sim_keypad_reads_key_names_from_a_stream():
    keypad = SimKeypad(clock=lambda: 7.0)
    keypad.read_lines(io.StringIO("valider\n\nbogus\n5\n")).join(5)
    assert keypad.events() == [KeyEvent(Key.VALIDER, True, 7.0), KeyEvent(Key.VALIDER, False, 7.0),
                               KeyEvent(Key.D5, True, 7.0), KeyEvent(Key.D5, False, 7.0)]
    assert keypad.events() == []


def test_annuler_on_the_keypad_refuses_a_pairing(tmp_path):
    import asyncio

    from smpclient import SMPClient
    from smpclient.transport.serial import SMPSerialTransport

    from host_tools.unit_link import client as link
    from host_tools.unit_link.keystore import HostKeys

    events: list = []
    board = build(BoardConfig(board="sim", state_dir=str(tmp_path)))

    def on_event(action) -> None:
        events.append(action)
        if isinstance(action, PairingRequested):
            board.keypad.press(Key.ANNULER)

    thread = UnitThread(lambda: UnitApp(board, tmp_path, on_event=on_event))
    thread.start()
    keys = HostKeys.load_or_create(tmp_path / "host.json")

    async def pair() -> None:
        async with SMPClient(SMPSerialTransport(), board.link.path, timeout_s=5) as client:
            await link.pair(client, keys, lambda code: None, poll_s=0.05, wait_s=20)

    try:
        with pytest.raises(link.LinkRefused) as exc:
            asyncio.run(asyncio.wait_for(pair(), 60))
    finally:
        thread.stop()
    assert [e.reason for e in events if isinstance(e, PairingEnded)] == ["rejected"]
    assert board.buzzer.beeps == [Beep.KEY]
    assert exc.value.code == "group80.pairing_rejected"


def test_a_card_pulled_out_reaches_the_terminal(tmp_path):
    board = build(BoardConfig(board="sim", state_dir=str(tmp_path)))
    thread = UnitThread(lambda: UnitApp(board, tmp_path))
    app = thread.start()
    removed: list[str] = []
    try:
        app.call(lambda: setattr(app.terminal, "card_removed", removed.append))
        from board.sim.card_emulator import CardEmulator, MemoryTestCard

        app.call(lambda: board.slots["ps"].insert(CardEmulator(MemoryTestCard())))
        time.sleep(0.5)  # the app looks at presence every 0.2 s
        app.call(lambda: board.slots["ps"].remove())
        for _ in range(100):
            if removed:
                break
            time.sleep(0.05)
    finally:
        thread.stop()
    assert removed == ["cps"]


def _shown(twin) -> bytes:
    return bytes(twin.pixel(x, y) for y in range(64) for x in range(128))


def test_the_display_driver_sends_only_what_changed_and_the_screen_is_right():
    """Screens of the UI one after the other: after each, the controller's RAM
    (the twin, horizontal addressing as the SSD1306) shows exactly the image;
    a cursor move or a digit costs a small part of a whole frame."""
    from firmware.ui.render import render
    from firmware.ui.view import Line, Status, View

    bus = SimI2CBus()
    display = Ssd1306Display(bus)
    status = Status(87, "10:30", False, 1, 3)
    menu = ["Factures préparées 3", "Nouvelle facture", "Lecture Vitale seule", "Informations"]
    frames = [render(status, View("", tuple(Line(t, selected=i == cursor)
                                         for i, t in enumerate(menu))))
              for cursor in (0, 1, 2)]
    frames += [render(status, View("Code porteur", (Line(mask, big=True),)))
               for mask in ("● ○ ○ ○", "● ● ○ ○")]
    frames.append(Image.new("1", (128, 64), 1))
    sent = []
    for image in frames:
        before = bus.display.data_bytes
        display.show(image)
        sent.append(bus.display.data_bytes - before)
        assert _shown(bus.display) == bytes(image.getpixel((x, y)) for y in range(64)
                                            for x in range(128))
    assert sent[1] < 64 and sent[2] < 64  # the cursor moved: a few columns of 4 pages
    assert sent[4] < 64  # one more PIN digit
    assert sent[5] == 1024  # all lit: the whole frame, in one window
    before = bus.display.data_bytes
    display.show(frames[5])
    assert bus.display.data_bytes == before  # the same image: nothing sent


def test_a_text_line_over_two_pages_goes_as_one_window():
    """The runs of adjacent pages cheaper as one rectangle are sent so: one
    address command for both pages, their bytes one after the other."""
    from board.pi.display import gddram, windows

    blank = gddram(Image.new("1", (128, 64)))
    image = Image.new("1", (128, 64))
    for x in range(10, 70):  # rows 12-19: pages 1 and 2, columns 10-69
        for y in range(12, 20):
            image.putpixel((x, y), 1)
    # one window: 8 + 120 + 4 x 2 = 136 bytes; each page alone: 2 x (8 + 60 + 2 x 2) = 144
    assert windows(blank, gddram(image), 32) == [(1, 2, 10, 69)]


def test_the_display_driver_sends_only_the_address_the_controller_does_not_hold():
    """A window written to its end leaves the controller's pointer at its start:
    the next PIN digit, on the same pages, needs only its columns (COLUMNADDR);
    the screen still shows each image."""
    from firmware.ui.render import render
    from firmware.ui.view import Line, Status, View

    bus = SimI2CBus()
    display = Ssd1306Display(bus)
    status = Status(87, "10:30", True, 0, 3)
    masks = ("○ ○ ○ ○", "● ○ ○ ○", "● ● ○ ○", "● ● ● ○")
    sent = []
    for mask in masks:
        image = render(status, View("Code porteur", (Line(mask, big=True),)))
        before = len(bus.display.commands)
        display.show(image)
        sent.append(bus.display.commands[before:])
        assert _shown(bus.display) == bytes(image.getpixel((x, y)) for y in range(64)
                                            for x in range(128))
    assert sent[1][0] == 0x21 and sent[1][3] == 0x22  # the first digit: columns and pages
    assert sent[2][0] == 0x21 and len(sent[2]) == 3  # the next ones: their columns only
    assert sent[3][0] == 0x21 and len(sent[3]) == 3

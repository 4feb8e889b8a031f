#!/bin/sh
# The unit's USB CDC-ACM gadget through configfs (docs/board.md §USB gadget).
#
#   opentla-gadget.sh start   create the gadget and bind it to the USB device controller
#   opentla-gadget.sh stop    unbind and remove it
#
# The office PC then sees a serial port (ttyACM*, COMn) with vendor 1d6b (Linux
# Foundation) product 0104 (Multifunction Composite Gadget), product string "OpenTLA",
# and as serial number the unit's: `serial` from the unit's config on the data
# partition, else the one `tla-unit run` last recorded there (<state>/serial), else
# "TLA-" + the SoC's serial number (a unit never started nor provisioned). `office`
# from the config becomes the configuration's name. The unit's side is /dev/ttyGS0.
#
# Exit codes: 0 done, 1 no USB device controller appeared, 2 bad usage, 3 configfs
# refused a write. Paths are overridable for the tests (tests/board/test_os_files.py):
# GADGET_CONFIGFS, GADGET_UDC_DIR, GADGET_TTY, UNIT_CONFIG, UNIT_STATE, SOC_SERIAL_FILE,
# UDC_WAIT_S.
set -eu

CONFIGFS=${GADGET_CONFIGFS:-/sys/kernel/config/usb_gadget}
UDC_DIR=${GADGET_UDC_DIR:-/sys/class/udc}
CONFIG=${UNIT_CONFIG:-/var/lib/opentla/unit.toml}
STATE=${UNIT_STATE:-/var/lib/opentla}
SOC_SERIAL=${SOC_SERIAL_FILE:-/sys/firmware/devicetree/base/serial-number}
WAIT_S=${UDC_WAIT_S:-10}
TTY=${GADGET_TTY:-/dev/ttyGS0}
G="$CONFIGFS/opentla"

VENDOR=0x1d6b
PRODUCT=0x0104
SERIAL_RE='^[A-Z0-9][A-Z0-9-]{0,31}$'  # board/config.py SERIAL_PATTERN

say() { echo "opentla-gadget: $*" >&2; }

# The value of `key = "value"` in the config (empty if absent).
config_value() {
    [ -r "$CONFIG" ] || return 0
    sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"\([^\"]*\)\"[[:space:]]*\(#.*\)\{0,1\}\$/\1/p" \
        "$CONFIG" | tail -n 1
}

unit_serial() {
    s=$(config_value serial)
    if [ -z "$s" ] && [ -r "$STATE/serial" ]; then
        s=$(head -n 1 "$STATE/serial")
    fi
    if [ -z "$s" ] && [ -r "$SOC_SERIAL" ]; then
        soc=$(tr -d '\000' < "$SOC_SERIAL" | tr 'a-f' 'A-F')
        s="TLA-$(printf '%s' "$soc" | tail -c 12)"
    fi
    if ! printf '%s' "$s" | grep -Eq "$SERIAL_RE"; then
        say "no usable serial (${s:-none}); using TLA-UNPROVISIONED"
        s=TLA-UNPROVISIONED
    fi
    printf '%s' "$s"
}

put() {  # put VALUE FILE
    printf '%s\n' "$1" > "$2" || { say "configfs refused $2"; exit 3; }
}

start() {
    if [ ! -d "$CONFIGFS" ]; then
        modprobe libcomposite 2>/dev/null || true
    fi
    [ -d "$CONFIGFS" ] || { say "$CONFIGFS missing (libcomposite, configfs mounted?)"; exit 3; }
    if [ -d "$G" ]; then
        say "gadget already set up; recreating"
        stop
    fi
    serial=$(unit_serial)
    office=$(config_value office)
    mkdir -p "$G/strings/0x409" "$G/configs/c.1/strings/0x409" "$G/functions/acm.usb0"
    put "$VENDOR" "$G/idVendor"
    put "$PRODUCT" "$G/idProduct"
    put 0x0100 "$G/bcdDevice"
    put 0x0200 "$G/bcdUSB"
    put 0x02 "$G/bDeviceClass"  # communications device (CDC)
    put "$serial" "$G/strings/0x409/serialnumber"
    put "OpenTLA" "$G/strings/0x409/manufacturer"
    put "OpenTLA" "$G/strings/0x409/product"
    put "OpenTLA ${office:-unit}" "$G/configs/c.1/strings/0x409/configuration"
    put 250 "$G/configs/c.1/MaxPower"
    ln -s "$G/functions/acm.usb0" "$G/configs/c.1/acm.usb0"
    waited=0
    udc=""
    while :; do
        for entry in "$UDC_DIR"/*; do
            if [ -e "$entry" ]; then udc=$(basename "$entry"); break; fi
        done
        [ -n "$udc" ] && break
        if [ "$waited" -ge "$WAIT_S" ]; then
            say "no USB device controller in $UDC_DIR after ${WAIT_S}s (dwc2 in peripheral mode?)"
            exit 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
    put "$udc" "$G/UDC"
    say "bound to $udc: $VENDOR:$PRODUCT serial $serial"
    waited=0  # the unit opens the tty as soon as this service is done
    while [ ! -e "$TTY" ] && [ "$waited" -lt "$WAIT_S" ]; do
        sleep 1
        waited=$((waited + 1))
    done
    [ -e "$TTY" ] || say "warning: $TTY did not appear within ${WAIT_S}s"
}

stop() {
    [ -d "$G" ] || return 0
    if [ -s "$G/UDC" ]; then
        printf '\n' > "$G/UDC" || true
    fi
    rm -f "$G/configs/c.1/acm.usb0"
    rmdir "$G/configs/c.1/strings/0x409" "$G/configs/c.1" "$G/functions/acm.usb0" \
        "$G/strings/0x409" 2>/dev/null || true
    rmdir "$G" 2>/dev/null || true
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac

#!/bin/sh
# The unit's USB CDC-ACM gadget through configfs: the office PC sees a serial port,
# the unit /dev/ttyGS0.   opentla-gadget.sh start|stop
set -eu
G=/sys/kernel/config/usb_gadget/opentla
case "${1:-}" in
start)
    modprobe libcomposite
    mkdir -p "$G/strings/0x409" "$G/configs/c.1/strings/0x409" "$G/functions/acm.usb0"
    echo 0x1d6b > "$G/idVendor"
    echo 0x0104 > "$G/idProduct"
    echo OpenTLA > "$G/strings/0x409/manufacturer"
    echo OpenTLA > "$G/strings/0x409/product"
    echo OpenTLA > "$G/configs/c.1/strings/0x409/configuration"
    ln -sf "$G/functions/acm.usb0" "$G/configs/c.1/"
    for udc in /sys/class/udc/*; do basename "$udc" > "$G/UDC"; break; done
    ;;
stop)
    echo "" > "$G/UDC" || true
    rm -f "$G/configs/c.1/acm.usb0"
    rmdir "$G/configs/c.1/strings/0x409" "$G/configs/c.1" "$G/functions/acm.usb0" \
        "$G/strings/0x409" "$G" 2>/dev/null || true
    ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac

#!/bin/sh
# The Debian packages the tests need: the PC/SC stack with vpcd (the PC/SC tests),
# pcsc-tools' ATR list and opensc-tool, swig + libpcsclite-dev to build pyscard,
# poppler-utils (pdftoppm: the duplicata PDF rendered back), tmux (the simulator driven),
# shellcheck (make lint), fdisk + e2fsprogs (flash.sh's tests build card images),
# device-tree-compiler (the unit's overlay, board/os), chromium (the tla report page
# rendered headless), postgresql (the office database tests start their own server:
# tests/pg_server.py).
# Installs the missing ones as root or through sudo; otherwise prints the one
# command to run and exits 2. `make test` runs this first.
PACKAGES="pcscd vsmartcard-vpcd pcsc-tools opensc swig libpcsclite-dev poppler-utils tmux
shellcheck fdisk e2fsprogs device-tree-compiler chromium postgresql"
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo"
else
    echo "make test needs these Debian packages; run: sudo apt-get install -y$missing" >&2
    exit 2
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq && $SUDO apt-get install -y -qq$missing >/dev/null

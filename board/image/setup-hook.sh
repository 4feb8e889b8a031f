#!/bin/sh
# mmdebstrap --setup-hook (board/image/build.sh): before any package is installed, so
# the kernel's first initramfs already holds only the modules that mount the root.
set -eu
root=$1
mkdir -p "$root/etc/initramfs-tools/conf.d" "$root/usr/share/initramfs-tools/modules.d"
cp "$OPENTLA_IMG_DIR/initramfs.conf" "$root/etc/initramfs-tools/conf.d/opentla.conf"
cp "$OPENTLA_IMG_DIR/initramfs-modules" "$root/usr/share/initramfs-tools/modules.d/opentla"

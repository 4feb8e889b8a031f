#!/bin/sh
# mmdebstrap --customize-hook (board/image/build.sh): everything of ours in the root,
# then what the unit does not run taken out (docs/image.md §Root). $1 is the root.
set -eu
root=$1
os=$OPENTLA_OS_DIR
img=$OPENTLA_IMG_DIR
in_root() { chroot "$root" "$@"; }
say() { echo "customize: $*" >&2; }

kver=$(find "$root/usr/lib/modules" -mindepth 1 -maxdepth 1 -type d -printf "%f\n" | sort -V | tail -n 1)
mkdir -p "$root/usr/lib/opentla" "$root/etc/opentla" "$root/var/lib/opentla"
echo "$kver" > "$root/usr/lib/opentla/kernel-version"

# ---- the application: a venv in /opt/opentla, wheels only, no index ------------------
say "application venv /opt/opentla"
mkdir -p "$root/tmp/opentla-wheels"
cp "$OPENTLA_WHEELS"/*.whl "$root/tmp/opentla-wheels/"
pip_whl=$(cd "$OPENTLA_TOOLS" && ls pip-*.whl)
cp "$OPENTLA_TOOLS/$pip_whl" "$root/tmp/"
in_root python3 -m venv --without-pip /opt/opentla
wheels=$(cd "$OPENTLA_WHEELS" && for w in *.whl; do printf '/tmp/opentla-wheels/%s ' "$w"; done)
# .pyc compiled now (the root is read-only at run time: nothing can be cached later);
# SOURCE_DATE_EPOCH makes them checked-hash .pyc: the same bytes for the same sources,
# and an import checks them against the sealed .py.
# shellcheck disable=SC2086
in_root env SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" PYTHONHASHSEED=0 \
    /opt/opentla/bin/python "/tmp/$pip_whl/pip" install -q --no-index --no-deps \
    --no-cache-dir --disable-pip-version-check --no-warn-script-location $wheels
rm -rf "$root/tmp/opentla-wheels" "$root/tmp/$pip_whl"
ln -sf /opt/opentla/bin/tla-unit "$root/usr/bin/tla-unit"
# every module the unit may import, on arm64: a wheel missing from requirements.txt fails here
in_root /opt/opentla/bin/python -B -c "import firmware.app, board.run, board.sim.parts, \
board.pi.parts, cryptography.hazmat.primitives.hpke, cbor2, yaml, serial, smbus2, \
gpiozero, lgpio, luma.oled.device, PIL.Image"

# ---- the OS integration (board/os) -------------------------------------------------------
say "OS files from $os"
install -m 0644 "$os/fstab" "$root/etc/fstab"
install -m 0755 "$os/opentla-gadget.sh" "$root/usr/lib/opentla/opentla-gadget.sh"
for unit in "$os"/*.service; do
    install -m 0644 "$unit" "$root/usr/lib/systemd/system/"
done
for rules in "$os"/*.rules; do
    case $(basename "$rules") in
        99-*) ;;  # the office PC's rule: not the unit's
        *) install -m 0644 "$rules" "$root/usr/lib/udev/rules.d/" ;;
    esac
done
if [ -f "$os/modules-load.conf" ]; then
    install -m 0644 "$os/modules-load.conf" "$root/etc/modules-load.d/opentla.conf"
fi
if [ -f "$os/opentla.sysusers" ]; then
    install -m 0644 "$os/opentla.sysusers" "$root/usr/lib/sysusers.d/opentla.conf"
    in_root systemd-sysusers  # now: /etc is read-only on the unit
fi
# Under QEMU only (make image-test): the link's virtio port, the diagnostics service.
install -m 0644 "$img/61-opentla-qemu.rules" "$root/usr/lib/udev/rules.d/"
install -m 0644 "$img/opentla-diag.service" "$img/opentla-qemu-ports.service" \
    "$root/usr/lib/systemd/system/"
in_root systemctl enable -q opentla-qemu-ports.service
install -m 0755 "$img/opentla-diag.sh" "$root/usr/lib/opentla/opentla-diag.sh"
install -m 0644 "$img/qemu.toml" "$root/etc/opentla/qemu.toml"
mkdir -p "$root/etc/systemd/journald.conf.d"
install -m 0644 "$img/journald.conf" "$root/etc/systemd/journald.conf.d/opentla.conf"
# The unit's config lives on the data partition (flash.sh provisions it there).
install -m 0640 "$img/unit.toml" "$root/var/lib/opentla/unit.toml"
ln -sf /var/lib/opentla/unit.toml "$root/etc/opentla/unit.toml"
if in_root getent passwd opentla >/dev/null; then
    in_root chown -R opentla:opentla /var/lib/opentla
fi
chmod 0750 "$root/var/lib/opentla"
for unit in "$os"/*.service; do
    if grep -q '^\[Install\]' "$unit"; then
        in_root systemctl enable -q "$(basename "$unit")"
    fi
done
# no text consoles to log in on (the Pi's screen is the OLED): getty-static would start
# gettys on tty2-6 for want of logind
in_root systemctl mask -q getty-static.service
# the units board/os/MANIFEST masks (no getty on the cards' UART)
awk '$1 == "mask" { print $2 }' "$os/MANIFEST" | while read -r unit; do
    in_root systemctl mask -q "$unit" </dev/null
done
# what the unit's boot does not run (board/image/boot-trim, docs/image.md §Boot time)
mkdir -p "$root/etc/systemd/system-generators" "$root/etc/tmpfiles.d"
sed 's/#.*//' "$img/boot-trim" | while read -r kind name; do
    case $kind in
        unit) in_root systemctl mask -q "$name" </dev/null ;;
        generator) ln -sf /dev/null "$root/etc/systemd/system-generators/$name" ;;
        tmpfiles) ln -sf /dev/null "$root/etc/tmpfiles.d/$name" ;;
        udev) rm -f "$root/usr/lib/udev/rules.d/$name" ;;
        "") ;;
        *) say "boot-trim: unknown kind $kind"; exit 1 ;;
    esac
done
in_root systemctl set-default -q multi-user.target  # nothing graphical
echo opentla > "$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\topentla\n' > "$root/etc/hosts"
# empty: systemd makes a transient machine id at each boot (read-only root)
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"

# ---- the boot partition's files (build.sh makes the FAT32 from /boot/firmware) -------------
say "boot files for kernel $kver"
fw="$root/boot/firmware"
rm -rf "$fw"
mkdir -p "$fw/overlays"
for f in bootcode.bin start.elf fixup.dat start_cd.elf fixup_cd.dat; do  # Pi Zero 2 W
    cp "$root/usr/lib/raspi-firmware/$f" "$fw/"
done
cp "$root/boot/vmlinuz-$kver" "$fw/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$fw/initrd.img"
cp "$root/usr/lib/linux-image-$kver/broadcom/bcm2837-rpi-zero-2-w.dtb" "$fw/"
cp "$os/config.txt" "$os/cmdline.txt" "$fw/"
if [ -f "$os/opentla-overlay.dts" ]; then
    dtc -q -@ -I dts -O dtb -o "$fw/overlays/opentla.dtbo" "$os/opentla-overlay.dts"
fi

# ---- out: what the unit does not run (docs/image.md §Root) ---------------------------------
say "trimming"
# kernel, initrd and device trees are on the boot partition; modules the unit has no use for
rm -f "$root/boot/vmlinuz-$kver" "$root/boot/initrd.img-$kver" "$root/boot/System.map-$kver"
rm -rf "$root/usr/lib/linux-image-$kver" "$root/usr/lib/raspi-firmware"
grep -v '^#' "$img/prune-modules" | while read -r dir; do
    [ -n "$dir" ] && rm -rf "$root/usr/lib/modules/$kver/kernel/$dir"
done
in_root depmod -a "$kver"
# no package manager runs on a read-only root: its caches and the hooks for it go
rm -rf "$root/var/cache/"* "$root/var/lib/apt/lists/"* "$root/var/log/"* \
    "$root/etc/kernel/postinst.d/z50-raspi-firmware" \
    "$root/etc/initramfs/post-update.d/z50-raspi-firmware"
# glibc's iconv converters: Python has its own codecs, nothing else on the unit converts
find "$root/usr/lib/aarch64-linux-gnu/gconv" -name '*.so' -delete
# udev's hardware database describes PC peripherals: not needed to boot or run the unit
rm -f "$root/usr/lib/udev/hwdb.bin" "$root/etc/udev/hwdb.bin"
rm -rf "$root/usr/lib/udev/hwdb.d"

#!/usr/bin/env bash
# flash.sh: turn an SD card into an OpenTLA unit, or update a running unit over USB.
# docs/board.md §Bring-up. Run `./flash.sh --help`.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROG=flash.sh

# Exit codes (also in --help and docs/board.md).
EXIT_OK=0
EXIT_IO=1        # writing or reading the card failed, or it read back different
EXIT_USAGE=2     # bad options or files (image, config, serial, office)
EXIT_REFUSED=3   # refused: the system disk, not removable, a partition, mounted, too
                 # small, or not confirmed
EXIT_HASH=4      # the image does not match its .sha256 (or has none)
EXIT_PROVISION=5 # the card was written but the unit could not be provisioned
EXIT_NO_UPDATER=6  # update mode: no `tla` with an `update` command

usage() {
    cat <<EOF
Usage:
  $PROG [--yes] [--serial SERIAL] [--office NAME] [--config FILE] IMAGE DEVICE
  $PROG update PORT BUNDLE
  $PROG --help

Write IMAGE (an OpenTLA SD-card image, with IMAGE.sha256 beside it) to the SD card
DEVICE (e.g. /dev/sdb, /dev/mmcblk0; a loop device or a plain file also do), then
read it back. Safety first: the disk holding the running system, any non-removable
disk (USB card readers and SD slots are allowed), a partition, a mounted card or a
card smaller than the image are refused; the device's model and size are shown and
you must type "yes" unless --yes is given.

Provisioning (optional, after the write): the unit's config, unit.toml, is written
on the card's data partition (partition 3, ext4 labelled tla-data), as the unit
reads it at /var/lib/opentla/unit.toml (docs/board.md §Configuration):
  --config FILE    a unit.toml to start from (checked as the unit checks it)
  --serial SERIAL  the unit's serial (A-Z, 0-9, '-'; at most 32), e.g. TLA-0042
  --office NAME    the office the unit belongs to (shown on the office PC's USB list)

update PORT BUNDLE: update the running unit on serial port PORT (e.g.
/dev/opentla-TLA-0042) with the signed BUNDLE, through the office tools' updater
(\`tla update --port PORT BUNDLE\`; TLA=path/to/tla to choose which tla).

Exit codes:
  0  done
  1  writing or reading the card failed, or it read back different from the image
  2  bad usage: options, image, config, serial or office
  3  refused: system disk, not removable, a partition, mounted, too small, not confirmed
  4  the image does not match IMAGE.sha256, or IMAGE.sha256 is missing
  5  written, but the unit could not be provisioned (no tla-data partition, debugfs)
  6  update: no \`tla\` with an \`update\` command found
  update mode otherwise exits with tla update's own code.
EOF
}

die() {  # die CODE MESSAGE
    echo "$PROG: $2" >&2
    exit "$1"
}

need() {  # need COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 || die "$EXIT_USAGE" "$1 is needed (Debian package $2)"
}

# ---- update mode -------------------------------------------------------------------
update_unit() {
    [ $# -eq 2 ] || die "$EXIT_USAGE" "usage: $PROG update PORT BUNDLE"
    local port=$1 bundle=$2 tla=${TLA:-tla}
    [ -f "$bundle" ] || die "$EXIT_USAGE" "bundle $bundle: no such file"
    if ! command -v "$tla" >/dev/null 2>&1; then
        die "$EXIT_NO_UPDATER" "'$tla' not found: install the office tools (pip install 'opentla[host]') or set TLA=path/to/tla"
    fi
    if ! "$tla" update --help >/dev/null 2>&1; then
        die "$EXIT_NO_UPDATER" "'$tla' has no 'update' command: install office tools that have it"
    fi
    echo "$PROG: updating the unit on $port with $bundle ($tla update)" >&2
    local rc=0
    "$tla" update --port "$port" "$bundle" || rc=$?
    exit "$rc"
}

# ---- what lsblk says of the target -----------------------------------------------------
# Prints shell assignments for DEVICE from lsblk's JSON (FLASH_LSBLK: a file with
# `lsblk -J -b -o NAME,PATH,TYPE,RM,TRAN,SIZE,MODEL,MOUNTPOINT` output, for the tests):
#   found type rm tran size model mounted system
# system=1 when DEVICE is, or holds, a device mounted at / /boot /boot/efi /usr /var or
# swap, or is the disk under one; mounted lists DEVICE's mounted descendants.
inspect_device() {
    local json
    if [ -n "${FLASH_LSBLK:-}" ]; then
        json=$(cat "$FLASH_LSBLK")
    else
        json=$(lsblk -J -b -o NAME,PATH,TYPE,RM,TRAN,SIZE,MODEL,MOUNTPOINT)
    fi
    printf '%s' "$json" | python3 -c '
import json, shlex, sys
target = sys.argv[1]
SYSTEM = {"/", "/boot", "/boot/efi", "/boot/firmware", "/usr", "/var", "[SWAP]"}
def mounts(d):
    m = d.get("mountpoints", [d.get("mountpoint")])
    return [x for x in (m or []) if x]
def tree(d):
    yield d
    for c in d.get("children", []) or []:
        yield from tree(c)
def flag(v):
    return 1 if v in (True, 1, "1", "true") else 0
found = None
for disk in json.load(sys.stdin).get("blockdevices", []):
    for d in tree(disk):
        if target in (d.get("path"), "/dev/" + str(d.get("name"))):
            found = (disk, d)
            break
    if found:
        break
if not found:
    print("found=0")
    sys.exit(0)
disk, d = found
mounted = [m for x in tree(d) for m in mounts(x)]
system = any(m in SYSTEM for x in tree(disk) for m in mounts(x))
out = {"found": 1, "type": d.get("type") or "", "rm": flag(d.get("rm")),
       "tran": d.get("tran") or "", "size": int(d.get("size") or 0),
       "model": (d.get("model") or "").strip() or "unknown model",
       "mounted": " ".join(mounted), "system": int(system)}
for k, v in out.items():
    print(f"dev_{k}={shlex.quote(str(v))}")
' "$1"
}

human() {  # bytes -> "29.7 GiB"
    awk -v b="$1" 'BEGIN { split("B KiB MiB GiB TiB", u); i = 1;
        while (b >= 1024 && i < 5) { b /= 1024; i++ } printf "%.1f %s", b, u[i] }'
}

check_target() {  # check_target DEVICE IMAGE_SIZE -> sets TARGET_KIND (disk|file)
    local dev=$1 size=$2
    local dev_found=0 dev_type="" dev_rm=0 dev_tran="" dev_size=0 dev_model="" dev_mounted=""
    local dev_system=0
    if [ -z "${FLASH_LSBLK:-}" ] && [ -f "$dev" ]; then
        TARGET_KIND="file"
        echo "Target: $dev, a plain file ($(human "$(stat -c %s "$dev")")), written in place."
        return
    fi
    if [ -z "${FLASH_LSBLK:-}" ] && [ ! -b "$dev" ]; then
        die "$EXIT_USAGE" "$dev: not a block device (the SD card, e.g. /dev/sdb; see lsblk)"
    fi
    need lsblk util-linux
    eval "$(inspect_device "$dev")"
    [ "$dev_found" = 1 ] || die "$EXIT_REFUSED" "$dev: lsblk does not list it; refusing"
    if [ "$dev_system" = 1 ]; then
        die "$EXIT_REFUSED" "$dev holds the running system; refusing"
    fi
    case "$dev_type" in
        disk | loop) ;;
        part) die "$EXIT_REFUSED" "$dev is a partition: give the whole card (e.g. /dev/sdb, not /dev/sdb1)" ;;
        *) die "$EXIT_REFUSED" "$dev is a $dev_type, not a disk; refusing" ;;
    esac
    local name
    name=$(basename "$dev")
    if [ "$dev_type" = disk ] && [ "$dev_rm" != 1 ] && [ "$dev_tran" != usb ] \
            && [ "$dev_tran" != mmc ] && [ "${name#mmcblk}" = "$name" ]; then
        die "$EXIT_REFUSED" "$dev ($dev_model, $(human "$dev_size")) is not a removable disk (not a card reader nor an SD slot); refusing"
    fi
    if [ -n "$dev_mounted" ]; then
        die "$EXIT_REFUSED" "$dev is mounted ($dev_mounted): unmount it first (udisksctl unmount -b PARTITION, or umount)"
    fi
    if [ "$dev_size" -lt "$size" ]; then
        die "$EXIT_REFUSED" "$dev ($(human "$dev_size")) is smaller than the image ($(human "$size"))"
    fi
    TARGET_KIND="disk"
    echo "Target: $dev, $dev_model, $(human "$dev_size")${dev_tran:+, $dev_tran}: EVERYTHING ON IT WILL BE ERASED."
}

confirm() {  # confirm DEVICE
    [ "$YES" = 1 ] && return
    if [ ! -t 0 ]; then
        die "$EXIT_REFUSED" "not confirmed: no terminal to ask on (give --yes to write $1 without asking)"
    fi
    local answer
    read -r -p "Type yes to write $1: " answer || answer=""
    [ "$answer" = yes ] || die "$EXIT_REFUSED" "not confirmed; nothing written"
}

check_image() {  # check_image IMAGE -> prints its size
    local image=$1 expected actual
    [ -f "$image" ] || die "$EXIT_USAGE" "image $image: no such file"
    [ -f "$image.sha256" ] || die "$EXIT_HASH" "$image.sha256 missing: cannot check the image"
    expected=$(awk 'NR == 1 { print tolower($1) }' "$image.sha256")
    printf '%s' "$expected" | grep -Eq '^[0-9a-f]{64}$' \
        || die "$EXIT_HASH" "$image.sha256 holds no SHA-256"
    echo "Checking $image against $image.sha256..." >&2
    actual=$(sha256sum < "$image" | awk '{ print $1 }')
    [ "$actual" = "$expected" ] \
        || die "$EXIT_HASH" "$image does not match $image.sha256 (got $actual): download it again"
    stat -c %s "$image"
}

write_and_verify() {  # write_and_verify IMAGE DEVICE SIZE
    local image=$1 dev=$2 size=$3 expected actual
    echo "Writing $image to $dev..." >&2
    local progress=none
    [ -t 2 ] && progress=progress
    if ! dd if="$image" of="$dev" bs=4M conv=fsync,notrunc status="$progress"; then
        die "$EXIT_IO" "writing $dev failed"
    fi
    sync
    if [ -b "$dev" ]; then  # read the card, not the kernel's cached copy
        blockdev --flushbufs "$dev" 2>/dev/null || true
    fi
    echo "Reading $dev back..." >&2
    expected=$(awk 'NR == 1 { print tolower($1) }' "$image.sha256")
    actual=$(head -c "$size" "$dev" | sha256sum | awk '{ print $1 }')
    [ "$actual" = "$expected" ] \
        || die "$EXIT_IO" "$dev reads back different from the image (bad card?): $actual"
    echo "Written and read back: $(human "$size") match the image."
}

# ---- provisioning -----------------------------------------------------------------------
make_config() {  # make_config OUT -> writes the unit.toml to provision
    local out=$1
    : > "$out"
    if [ -n "$CONFIG" ]; then
        grep -Ev '^[[:space:]]*(serial|office)[[:space:]]*=' "$CONFIG" >> "$out" || true
        if [ -z "$SERIAL" ]; then
            grep -E '^[[:space:]]*serial[[:space:]]*=' "$CONFIG" >> "$out" || true
        fi
        if [ -z "$OFFICE" ]; then
            grep -E '^[[:space:]]*office[[:space:]]*=' "$CONFIG" >> "$out" || true
        fi
    else
        printf 'board = "pi"\n' >> "$out"
    fi
    [ -n "$SERIAL" ] && printf 'serial = "%s"\n' "$SERIAL" >> "$out"
    [ -n "$OFFICE" ] && printf 'office = "%s"\n' "$OFFICE" >> "$out"
    # checked by the unit's own rule (board/config.py), before anything is written
    local err
    if ! err=$(PYTHONPATH="$HERE" python3 -c '
import sys
from pathlib import Path
try:
    from board.config import ConfigError, read_file
except ImportError as exc:
    sys.exit(f"cannot check the config: {exc} (python3 >= 3.11 needed)")
try:
    read_file(Path(sys.argv[1]))
except ConfigError as exc:
    sys.exit(str(exc).replace(sys.argv[1], sys.argv[2]))
' "$out" "${CONFIG:-the provisioned unit.toml}" 2>&1); then
        die "$EXIT_USAGE" "$err"
    fi
}

data_offset() {  # data_offset DEVICE -> byte offset of partition 3
    sfdisk -J "$1" 2>/dev/null | python3 -c '
import json, sys
try:
    table = json.load(sys.stdin)["partitiontable"]
    part = table["partitions"][2]
except (ValueError, KeyError, IndexError):
    sys.exit(1)
print(part["start"] * table.get("sectorsize", 512))
'
}

provision() {  # provision DEVICE CONFIG_FILE
    local dev=$1 config=$2 offset fs label
    need debugfs e2fsprogs
    need sfdisk fdisk
    if [ "$TARGET_KIND" = disk ]; then  # a desktop may have mounted the new partitions
        local dev_found=0 dev_mounted=""
        eval "$(inspect_device "$dev")"
        [ -z "$dev_mounted" ] || die "$EXIT_PROVISION" "$dev got mounted ($dev_mounted) after the write: unmount it and provision again"
    fi
    offset=$(data_offset "$dev") \
        || die "$EXIT_PROVISION" "$dev has no partition 3 (the data partition): not an OpenTLA image?"
    fs="$dev?offset=$offset"
    label=$(debugfs -R stats "$fs" 2>/dev/null | sed -n 's/^Filesystem volume name:[[:space:]]*//p')
    [ "$label" = tla-data ] \
        || die "$EXIT_PROVISION" "partition 3 of $dev is not the data partition (ext4 label tla-data, found '${label:-none}')"
    debugfs -w -R "rm unit.toml" "$fs" >/dev/null 2>&1 || true
    if ! debugfs -w -f - "$fs" >/dev/null 2>&1 <<EOF
write $config unit.toml
set_inode_field unit.toml mode 0100644
set_inode_field unit.toml uid 0
set_inode_field unit.toml gid 0
EOF
    then
        die "$EXIT_PROVISION" "debugfs could not write unit.toml on $dev"
    fi
    local back
    back=$(debugfs -R "cat unit.toml" "$fs" 2>/dev/null)
    [ "$back" = "$(cat "$config")" ] \
        || die "$EXIT_PROVISION" "unit.toml reads back different from what was written on $dev"
    sync
    echo "Provisioned: unit.toml on the data partition:"
    sed 's/^/  /' "$config"
}

# ---- main ----------------------------------------------------------------------------
if [ "${1:-}" = update ]; then
    shift
    update_unit "$@"
fi

YES=0 SERIAL="" OFFICE="" CONFIG=""
ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        -h | --help) usage; exit "$EXIT_OK" ;;
        -y | --yes) YES=1 ;;
        --serial) [ $# -ge 2 ] || die "$EXIT_USAGE" "--serial needs a value"; SERIAL=$2; shift ;;
        --office) [ $# -ge 2 ] || die "$EXIT_USAGE" "--office needs a value"; OFFICE=$2; shift ;;
        --config) [ $# -ge 2 ] || die "$EXIT_USAGE" "--config needs a file"; CONFIG=$2; shift ;;
        --serial=*) SERIAL=${1#*=} ;;
        --office=*) OFFICE=${1#*=} ;;
        --config=*) CONFIG=${1#*=} ;;
        --) shift; ARGS+=("$@"); break ;;
        -*) die "$EXIT_USAGE" "unknown option $1 (see --help)" ;;
        *) ARGS+=("$1") ;;
    esac
    shift
done
[ ${#ARGS[@]} -eq 2 ] || { usage >&2; exit "$EXIT_USAGE"; }
IMAGE=${ARGS[0]} DEVICE=${ARGS[1]}
need python3 python3
need sha256sum coreutils
[ -z "$CONFIG" ] || [ -f "$CONFIG" ] || die "$EXIT_USAGE" "config $CONFIG: no such file"
case "$SERIAL$OFFICE" in
    *'"'* | *\\*) die "$EXIT_USAGE" "--serial and --office take no quotes or backslashes" ;;
esac

PROVISION=""
if [ -n "$SERIAL$OFFICE$CONFIG" ]; then
    PROVISION=$(mktemp "${TMPDIR:-/tmp}/opentla-unit.XXXXXX.toml")
    trap 'rm -f "$PROVISION"' EXIT
    make_config "$PROVISION"
fi
SIZE=$(check_image "$IMAGE")
TARGET_KIND=""
check_target "$DEVICE" "$SIZE"
confirm "$DEVICE"
write_and_verify "$IMAGE" "$DEVICE" "$SIZE"
if [ -n "$PROVISION" ]; then
    provision "$DEVICE" "$PROVISION"
fi
echo "Done: put the card in the unit and power it (docs/board.md §Bring-up)."
exit "$EXIT_OK"

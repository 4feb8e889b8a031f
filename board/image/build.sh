#!/bin/bash
# make image: the unit's bootable arm64 SD-card image from Debian packages (docs/image.md).
#
#   board/image/build.sh [OUT_DIR]        (default build/image; run from the repository)
#
# Debian 12 (bookworm) arm64 by mmdebstrap (qemu-user-static through binfmt runs the
# arm64 maintainer scripts), Debian's arm64 kernel and the Pi boot firmware
# (raspi-firmware), the application and its dependencies installed offline from wheels
# fetched at image time (board/image/requirements.txt, exact versions and hashes) plus
# our own wheel built from the files git tracks in this worktree. No real mount: the
# partitions are made from directories (mkfs.ext4 -d, mkfs.vfat + mcopy) and put in
# place in one file with sfdisk and dd.
#
# Environment: PYTHON (host python with pip, default python3), MIRROR (Debian mirror,
# default http://deb.debian.org/debian; SECURITY likewise), OS_DIR (the OS integration files, default
# board/os), DATA_MIB (data partition, default 128), BOOT_MIB (default 64).
# Exit codes: 0 image written, 1 a step failed, 2 a tool or the arm64 emulation missing.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$(realpath -m "${1:-$REPO/build/image}")
PYTHON=${PYTHON:-python3}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY=${SECURITY:-http://deb.debian.org/debian-security}
OS_DIR=$(realpath "${OS_DIR:-$REPO/board/os}")
IMG_DIR="$REPO/board/image"
BOOT_MIB=${BOOT_MIB:-64}
DATA_MIB=${DATA_MIB:-128}
SUITE=bookworm
# Fixed identities, so two builds give the same partition table and file systems.
DISK_ID=0x07e51a00
ROOT_UUID=7e51a000-0000-4000-8000-000000000002
DATA_UUID=7e51a000-0000-4000-8000-000000000003
BOOT_VOLID=7E51A001
HASH_SEED=7e51a000-0000-4000-8000-00000000beef

say() { echo "image: $*" >&2; }
die() { say "$1"; exit "${2:-1}"; }

for tool in mmdebstrap mkfs.ext4 mkfs.vfat mcopy mmd sfdisk dd arch-test dtc; do
    command -v "$tool" >/dev/null || die "$tool missing: apt-get install mmdebstrap \
qemu-user-static binfmt-support dosfstools e2fsprogs fdisk mtools arch-test \
device-tree-compiler" 2
done
if ! arch-test arm64 >/dev/null 2>&1; then
    die "this machine cannot run arm64 programs: apt-get install qemu-user-static \
binfmt-support, and mount binfmt_misc (mount -t binfmt_misc binfmt_misc \
/proc/sys/fs/binfmt_misc; update-binfmts --enable qemu-aarch64)" 2
fi
"$PYTHON" -m pip --version >/dev/null 2>&1 || die "$PYTHON has no pip (PYTHON=...)" 2

cd "$REPO"
COMMIT=$(git rev-parse HEAD)
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)
export SOURCE_DATE_EPOCH
DIRTY=""
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
    DIRTY=" (with uncommitted changes)"
fi
say "commit $COMMIT$DIRTY, SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH, output $OUT"
START=$(date +%s)

rm -rf "$OUT"
mkdir -p "$OUT"
WORK=$(mktemp -d "$OUT/work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# ---- 1. wheels: our dependencies for aarch64 (exact, hashed) and our own wheel --------
WHEELS="$WORK/wheels"
mkdir -p "$WHEELS" "$WORK/src" "$WORK/tools"
say "wheels for aarch64 (board/image/requirements.txt)"
"$PYTHON" -m pip download -q --disable-pip-version-check --no-deps --require-hashes \
    --only-binary=:all: --implementation cp --python-version 3.11 --abi cp311 --abi abi3 \
    --abi none --platform manylinux_2_34_aarch64 --platform manylinux_2_28_aarch64 \
    --platform manylinux2014_aarch64 --platform any \
    -r "$IMG_DIR/requirements.txt" -d "$WHEELS"
# pip itself, to install the wheels inside the image (run from its wheel, not installed)
"$PYTHON" -m pip download -q --disable-pip-version-check --no-deps --require-hashes \
    -r "$IMG_DIR/tools.txt" -d "$WORK/tools"
say "our wheel from the files git tracks"
git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$WORK/src"
"$PYTHON" -m pip wheel -q --disable-pip-version-check --no-deps -w "$WHEELS" "$WORK/src"

# ---- 2. the root file system: Debian arm64 + our files (customize.sh) ------------------
ROOT="$OUT/rootfs"
say "Debian $SUITE arm64 root (mmdebstrap; several minutes under qemu-user)"
excludes=()
for p in '/usr/share/doc/*' '/usr/share/man/*' '/usr/share/info/*' '/usr/share/locale/*' \
         '/usr/share/lintian/*' '/usr/share/bash-completion/*' '/usr/share/zsh/*' \
         '/usr/share/fish/*' '/usr/include/*' '/usr/share/gitweb/*' '/usr/share/bug/*'; do
    excludes+=("--dpkgopt=path-exclude=$p")
done
for p in '/usr/share/doc/*/copyright' '/usr/share/locale/fr/*' '/usr/share/locale/en/*' \
         '/usr/share/locale/locale.alias'; do
    excludes+=("--dpkgopt=path-include=$p")
done
export OPENTLA_WHEELS="$WHEELS" OPENTLA_TOOLS="$WORK/tools" OPENTLA_OS_DIR="$OS_DIR" \
    OPENTLA_IMG_DIR="$IMG_DIR" OPENTLA_COMMIT="$COMMIT"
mmdebstrap --variant=essential --architectures=arm64 --components=main,non-free-firmware \
    --aptopt='APT::Install-Recommends "false"' \
    "${excludes[@]}" \
    --include=usr-is-merged,systemd,systemd-sysv,udev,kmod,initramfs-tools,zstd,linux-image-arm64,raspi-firmware,python3 \
    --setup-hook="$IMG_DIR/setup-hook.sh \"\$1\"" \
    --customize-hook="$IMG_DIR/customize.sh \"\$1\"" \
    "$SUITE" "$ROOT" "deb $MIRROR $SUITE main non-free-firmware" \
    "deb $MIRROR $SUITE-updates main non-free-firmware" \
    "deb $SECURITY $SUITE-security main non-free-firmware" > "$OUT/mmdebstrap.log" 2>&1 \
    || { tail -n 30 "$OUT/mmdebstrap.log" >&2; die "mmdebstrap failed ($OUT/mmdebstrap.log)"; }

# ---- 3. the three partitions -------------------------------------------------------------
# Boot: what the Pi firmware reads (and the kernel + initrd QEMU boots directly).
BOOT="$WORK/boot"
mv "$ROOT/boot/firmware" "$BOOT"
mkdir -p "$ROOT/boot/firmware"
# Data: the store (mounted at /var/lib/opentla); starts with the default unit.toml.
DATA="$WORK/data"
mv "$ROOT/var/lib/opentla" "$DATA"
mkdir -p "$ROOT/var/lib/opentla"
# No file newer than the commit: mtimes are part of the file systems' bytes.
find "$ROOT" "$BOOT" "$DATA" -newermt "@$SOURCE_DATE_EPOCH" -print0 \
    | xargs -0 -r touch -h -d "@$SOURCE_DATE_EPOCH"

mib() { du -s --block-size=1M --apparent-size "$1" | cut -f1; }
ROOT_MIB=$(( $(mib "$ROOT") * 115 / 100 + 32 ))  # 15 % + 32 MiB: inodes, journal, room
export E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH
say "root ext4 ${ROOT_MIB} MiB, data ext4 ${DATA_MIB} MiB, boot FAT32 ${BOOT_MIB} MiB"
mkfs.ext4 -q -F -L tla-root -U "$ROOT_UUID" -E "hash_seed=$HASH_SEED,root_owner=0:0" \
    -O ^metadata_csum_seed -m 0 -d "$ROOT" "$WORK/root.ext4" "${ROOT_MIB}M"
mkfs.ext4 -q -F -L tla-data -U "$DATA_UUID" -E "hash_seed=$HASH_SEED" -m 0 \
    -d "$DATA" "$WORK/data.ext4" "${DATA_MIB}M"
truncate -s "${BOOT_MIB}M" "$WORK/boot.vfat"
mkfs.vfat -F 32 -n TLA-BOOT -i "$BOOT_VOLID" --invariant "$WORK/boot.vfat" >/dev/null
(cd "$BOOT" && find . -mindepth 1 -type d | sort | sed 's|^\./||' | while read -r d; do
    mmd -i "$WORK/boot.vfat" "::$d"; done
 find . -type f | sort | sed 's|^\./||' | while read -r f; do
    mcopy -m -i "$WORK/boot.vfat" "$f" "::$f"; done)

# ---- 4. the disk: MBR (the Pi's boot ROM reads MBR), 4 MiB aligned ----------------------
IMAGE="$OUT/opentla-arm64.img"
boot_start=8192
root_start=$(( boot_start + BOOT_MIB * 2048 ))
data_start=$(( root_start + ROOT_MIB * 2048 ))
total_sectors=$(( data_start + DATA_MIB * 2048 ))
truncate -s $(( total_sectors * 512 )) "$IMAGE"
sfdisk -q "$IMAGE" <<EOF
label: dos
label-id: $DISK_ID
unit: sectors
start=$boot_start, size=$(( BOOT_MIB * 2048 )), type=c, bootable
start=$root_start, size=$(( ROOT_MIB * 2048 )), type=83
start=$data_start, size=$(( DATA_MIB * 2048 )), type=83
EOF
dd if="$WORK/boot.vfat" of="$IMAGE" bs=512 seek="$boot_start" conv=notrunc,sparse status=none
dd if="$WORK/root.ext4" of="$IMAGE" bs=512 seek="$root_start" conv=notrunc,sparse status=none
dd if="$WORK/data.ext4" of="$IMAGE" bs=512 seek="$data_start" conv=notrunc,sparse status=none

# The kernel and initrd the boot test gives QEMU directly (the Pi's firmware reads them
# from the boot partition; QEMU's virt machine has no such firmware).
cp "$BOOT/vmlinuz" "$BOOT/initrd.img" "$OUT/"

# ---- 5. what is in it --------------------------------------------------------------------
(cd "$ROOT/opt/opentla" && find . -type f -print0 | sort -z | xargs -0 sha256sum) \
    > "$OUT/opentla-files.sha256"
APP_HASH=$(sha256sum "$OUT/opentla-files.sha256" | cut -d' ' -f1)
IMAGE_HASH=$(sha256sum "$IMAGE" | cut -d' ' -f1)
"$PYTHON" "$IMG_DIR/sizes.py" --root "$ROOT" --boot "$BOOT" --image "$IMAGE" \
    --root-part "$WORK/root.ext4" --json "$OUT/sizes.json" | tee "$OUT/sizes.txt"
{
    echo "commit=$COMMIT$DIRTY"
    echo "source_date_epoch=$SOURCE_DATE_EPOCH"
    echo "app_files_sha256=$APP_HASH"
    echo "image_sha256=$IMAGE_HASH"
    echo "kernel=$(cat "$ROOT/usr/lib/opentla/kernel-version")"
} > "$OUT/build-info.txt"
cat "$OUT/build-info.txt"
echo "image: $IMAGE ($(( $(stat -c %s "$IMAGE") / 1048576 )) MiB) in $(( $(date +%s) - START )) s"

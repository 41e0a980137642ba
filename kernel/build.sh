#!/usr/bin/env bash
# Builds the kernel oracle's artifacts: a Linux 6.12 bzImage (Debian's linux-source-6.12, tinyconfig
# plus config.fragment) and an initramfs (busybox, the kernel's own hmm-tests, cow and gup_test compiled
# statically from the same source tree, hmmsim's scenario runner, init). Everything is cached in
#   ${HMMSIM_KERNEL_CACHE:-~/.cache/hmmsim/kernel}/<source version>-<config hash>/
# and reused while the source package, the config fragment and the guest programs are unchanged.
# Missing packages are installed with apt-get when running as root; otherwise the script fails and
# names them. The last line on stdout is the JSON manifest of the artifacts.
#
# Usage: kernel/build.sh [--no-install]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
install=1
for a in "$@"; do
  case "$a" in
    --no-install) install=0 ;;
    *) echo "build.sh: unknown option $a (usage: kernel/build.sh [--no-install])" >&2; exit 2 ;;
  esac
done
log() { echo "[kernel] $*" >&2; }
die() { echo "[kernel] error: $*" >&2; exit 1; }

packages=(linux-source-6.12 build-essential flex bison bc libelf-dev libssl-dev qemu-system-x86 busybox-static cpio xz-utils)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  ((install)) || die "missing Debian packages: ${missing[*]} (install them with apt-get install ${missing[*]})"
  [[ $(id -u) == 0 ]] || die "missing Debian packages: ${missing[*]}; run as root, or: sudo apt-get install ${missing[*]}"
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2 || die 'apt-get update failed'
  apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed"
fi
tarball=/usr/src/linux-source-6.12.tar.xz
[[ -f $tarball ]] || die "$tarball is missing although linux-source-6.12 is installed"
for tool in gcc make flex bison bc cpio qemu-system-x86_64; do
  command -v "$tool" >/dev/null || die "$tool not found on PATH"
done
[[ -x /bin/busybox ]] || die '/bin/busybox (busybox-static) not found'

version=$(dpkg-query -W -f='${Version}' linux-source-6.12)
config_hash=$(sha256sum "$here/config.fragment" | cut -c1-12)
key="linux-${version//[^A-Za-z0-9.+-]/_}-$config_hash"
cache_root=${HMMSIM_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hmmsim/kernel}
dir="$cache_root/$key"
src="$dir/src"
mkdir -p "$dir"
jobs=${HMMSIM_KERNEL_JOBS:-$(nproc)}

# --- the kernel ---------------------------------------------------------------------------------
if [[ ! -f $dir/bzImage ]]; then
  start=$SECONDS
  if [[ ! -f $src/.extracted ]]; then
    log "extracting $tarball into $src"
    rm -rf "$src" "$dir/src.tmp"
    mkdir -p "$dir/src.tmp"
    tar -xJf "$tarball" -C "$dir/src.tmp" --strip-components=1
    mv "$dir/src.tmp" "$src"
    touch "$src/.extracted"
  fi
  log "configuring (tinyconfig + config.fragment)"
  make -C "$src" -s tinyconfig >&2
  "$src/scripts/kconfig/merge_config.sh" -m -O "$src" "$src/.config" "$here/config.fragment" >/dev/null
  make -C "$src" -s olddefconfig >&2
  while read -r line; do
    [[ $line =~ ^CONFIG_ ]] || continue
    grep -qx "$line" "$src/.config" || die "config: $line did not survive olddefconfig (a dependency is missing from config.fragment)"
  done <"$here/config.fragment"
  log "building bzImage with $jobs jobs (a few minutes)"
  nice make -C "$src" -s -j"$jobs" bzImage >&2 || die 'kernel build failed (see the messages above)'
  cp "$src/arch/x86/boot/bzImage" "$dir/bzImage.tmp"
  mv "$dir/bzImage.tmp" "$dir/bzImage"
  echo $((SECONDS - start)) >"$dir/kernel-build-seconds"
  log "bzImage built in $((SECONDS - start)) s"
fi

# --- the initramfs (rebuilt when the guest programs change) -------------------------------------
guest_hash=$( (cat "$here/runner/hmmsim-runner.c" "$here/init" "$here/build.sh") | sha256sum | cut -c1-12)
initramfs="$dir/initramfs-$guest_hash.cpio"
if [[ ! -f $initramfs ]]; then
  [[ -f $src/.extracted ]] || die "the source tree $src is gone; remove $dir and build again"
  start=$SECONDS
  root="$dir/rootfs"
  rm -rf "$root"
  mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,job,mnt/huge}
  cp /bin/busybox "$root/bin/busybox"
  cp "$here/init" "$root/init"
  chmod 755 "$root/init"
  selftests="$src/tools/testing/selftests"
  cflags=(-static -O2 -Wall -D_GNU_SOURCE -I"$src" -I"$src/tools/include/uapi" -I"$selftests")
  log 'compiling hmm-tests and gup_test (static) from the same source tree'
  gcc "${cflags[@]}" -I"$selftests/mm" -o "$root/bin/hmm-tests" "$selftests/mm/hmm-tests.c" -lpthread >&2 ||
    die 'compiling hmm-tests failed'
  gcc "${cflags[@]}" -I"$selftests/mm" -o "$root/bin/gup_test" "$selftests/mm/gup_test.c" "$selftests/mm/vm_util.c" -lpthread >&2 ||
    die 'compiling gup_test failed'
  # cow.c includes local_config.h, which the selftests' Makefile writes (check_config.sh): an
  # empty one means no liburing, so the two io_uring tests are left out (670 cases).
  mkdir -p "$dir/cow-config"
  : >"$dir/cow-config/local_config.h"
  gcc "${cflags[@]}" -I"$selftests/mm" -I"$dir/cow-config" -o "$root/bin/cow" "$selftests/mm/cow.c" \
    "$selftests/mm/vm_util.c" "$selftests/mm/thp_settings.c" -w >&2 ||
    die 'compiling cow (selftests/mm/cow.c) failed'
  log 'compiling hmmsim-runner'
  gcc -static -O2 -Wall -Wextra -Werror -I"$src" -o "$root/bin/hmmsim-runner" "$here/runner/hmmsim-runner.c" >&2 ||
    die 'compiling kernel/runner/hmmsim-runner.c failed'
  (cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) >"$initramfs.tmp"
  mv "$initramfs.tmp" "$initramfs"
  log "initramfs built in $((SECONDS - start)) s"
fi

kernel_release=$(cat "$src/include/config/kernel.release" 2>/dev/null || echo "6.12")
printf '{"key":"%s","dir":"%s","bzImage":"%s","initramfs":"%s","sourceVersion":"%s","kernelRelease":"%s","configHash":"%s"}\n' \
  "$key" "$dir" "$dir/bzImage" "$initramfs" "$version" "$kernel_release" "$config_hash"

#!/usr/bin/env bash
# Builds U-Boot's sandbox (U-Boot as a Linux program) for otpprov's tests:
# Debian bookworm's u-boot source package (2023.01), sandbox_defconfig with
# sandbox.config merged in, and sandbox.patch (file-backed fuses and
# fbrun, board/sandbox/otpprov.c). The build goes to a cache outside the
# repository, named by the upstream version and a hash of this script, the
# patch and the config, and is reused while that directory exists:
#
#   ${XDG_CACHE_HOME:-$HOME/.cache}/otpprov/u-boot-2023.01-HASH/
#       u-boot  mkimage  config (the .config)  debian-version
#
# internal/ubootsandbox computes the same name (it embeds these files).
# Prints the directory on stdout; progress goes to stderr.
#
#   build.sh          build or reuse; needs the source package reachable
#                     (a deb-src entry) and the build dependencies
#   build.sh --deps   first add a deb-src entry for the Debian archive the
#                     machine already uses and install the dependencies
#                     (root; CI runs this), only when there is no build yet
#   build.sh --dir    print the directory, build nothing
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
upstream=2023.01
hash=$(cat "$here/build.sh" "$here/sandbox.patch" "$here/sandbox.config" | sha256sum | cut -c1-12)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/otpprov
out=$cache/u-boot-$upstream-$hash

log() { echo "uboot-sandbox: $*" >&2; }

case "${1:-}" in
--dir) echo "$out"; exit 0 ;;
--deps | "") ;;
*) log "unknown option $1 (--deps, --dir)"; exit 2 ;;
esac

if [ -x "$out/u-boot" ] && [ -x "$out/mkimage" ]; then
	log "reusing $out"
	echo "$out"
	exit 0
fi

# The build dependencies: Debian's Build-Depends for u-boot without the
# cross compilers, plus what apt-get source unpacks with. No SDL: the
# build is NO_SDL=1.
deps=(dpkg-dev gcc make bc bison flex libssl-dev python3 python3-setuptools
	libpython3-dev swig libgnutls28-dev uuid-dev pkg-config xz-utils patch)

if [ "${1:-}" = --deps ]; then
	if ! apt-cache showsrc u-boot 2>/dev/null | grep -q "^Version: $upstream"; then
		# The same archive and suites as the machine's own deb entries:
		# deb822 stanzas of Debian URIs, and one-line deb lines.
		src=/etc/apt/sources.list.d/otpprov-deb-src
		shopt -s nullglob
		for f in /etc/apt/sources.list.d/*.sources; do
			[ "$f" = "$src.sources" ] && continue
			awk -v RS= -v ORS='\n\n' '/URIs:[^\n]*debian/ && /(^|\n)Types: deb(\n|$)/ { sub(/Types: deb/, "Types: deb-src"); print }' "$f"
		done >"$src.sources"
		[ -s "$src.sources" ] || rm -f "$src.sources"
		if [ -f /etc/apt/sources.list ]; then
			sed -n 's/^deb\(\s.*debian.*\)$/deb-src\1/p' /etc/apt/sources.list >"$src.list"
			[ -s "$src.list" ] || rm -f "$src.list"
		fi
		log "added deb-src entries: $(ls "$src".* 2>/dev/null | tr '\n' ' ')"
		apt-get update -qq
	fi
	missing=()
	for p in "${deps[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		log "installing ${missing[*]}"
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/otpprov-uboot.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
log "fetching the u-boot source package"
if ! apt-get source -qq u-boot >source.log 2>&1; then
	cat source.log >&2
	log "apt-get source u-boot failed: add a deb-src entry for bookworm (build.sh --deps does, as root)"
	exit 1
fi
tree=$(find . -maxdepth 1 -type d -name "u-boot-$upstream*" | head -1)
if [ -z "$tree" ]; then
	log "the source package is not U-Boot $upstream: $(ls)"
	exit 1
fi
version=$(sed -n 's/^Version: //p' ./*.dsc | head -1)
cd "$tree"
log "patching $version"
patch -p1 --forward --quiet <"$here/sandbox.patch"

log "configuring sandbox_defconfig + sandbox.config"
make -s sandbox_defconfig >/dev/null
scripts/kconfig/merge_config.sh -m .config "$here/sandbox.config" >/dev/null
make -s olddefconfig NO_SDL=1 >/dev/null
# Every line of the fragment holds, or the sandbox is not what the tests
# assume (a dependency Kconfig could not meet drops a line silently).
grep -E '^CONFIG_|^# CONFIG_.* is not set$' "$here/sandbox.config" | while IFS= read -r line; do
	grep -qxF "$line" .config || { log "sandbox.config: \"$line\" does not hold in .config"; exit 1; }
done
# 2023.01 has one hush, common/cli_hush.c: the old parser, NXP's.
[ -f common/cli_hush.c ] && [ ! -e common/cli_hush_modern.c ] || { log "not the old hush parser"; exit 1; }

log "building (make -j$(nproc)), a few minutes"
start=$SECONDS
make -s -j"$(nproc)" NO_SDL=1 >"$work/build.log" 2>&1 || { tail -40 "$work/build.log" >&2; exit 1; }
log "built in $((SECONDS - start)) s"

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.u-boot.XXXXXX")
chmod 755 "$tmp"
cp u-boot tools/mkimage "$tmp/"
cp .config "$tmp/config"
echo "$version" >"$tmp/debian-version"
mv "$tmp" "$out"
log "installed $out"
echo "$out"

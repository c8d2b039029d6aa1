#!/bin/sh
# Make a local stand-in for python:3.11-slim-bookworm where no container registry can be
# reached: a minimal Debian bookworm made by debootstrap from Debian's package archive, with
# Debian's Python 3.11 (python3.11, python3-venv, `python` on PATH), imported as an image.
#
#   sudo deployments/image/local-base.sh [TAG]        # default localhost/python:3.11-bookworm-local
#   make image PYTHON_IMAGE=localhost/python:3.11-bookworm-local
#
# Needs root, debootstrap and buildah (apt-get install debootstrap buildah). DEBIAN_MIRROR
# chooses the archive (default: debootstrap's), DEBIAN_SECURITY_MIRROR the security archive
# (default: the archive's URL followed by -security, as Debian's own mirror has it). The result is
# about what the official slim image is: no documentation, man pages or locales (dpkg is
# told to leave them out of later installs too), no apt lists, no compilers.
set -eu

tag=${1:-localhost/python:3.11-bookworm-local}

rootfs=$(mktemp -d /var/tmp/market-maker-base.XXXXXX)
ctr=
cleanup() {
    [ -z "$ctr" ] || buildah rm "$ctr" >/dev/null 2>&1 || true
    rm -rf "$rootfs"
}
trap cleanup EXIT INT TERM

# Leave documentation out, as Debian's slim images do, before anything is installed.
mkdir -p "$rootfs/etc/dpkg/dpkg.cfg.d"
cat > "$rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
CFG

# And no package cache left behind by any apt-get install, as in Debian's official images.
mkdir -p "$rootfs/etc/apt/apt.conf.d"
cat > "$rootfs/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG

debootstrap --variant=minbase bookworm "$rootfs" ${DEBIAN_MIRROR:+"$DEBIAN_MIRROR"}

mirror=$(sed -n 's/^deb \([^ ]*\) bookworm main$/\1/p' "$rootfs/etc/apt/sources.list" | head -n 1)
security=${DEBIAN_SECURITY_MIRROR:-$mirror-security}
cat > "$rootfs/etc/apt/sources.list" <<LIST
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
LIST
# apt inside the chroot: security updates, then Python.
chroot "$rootfs" /bin/sh -eu -c '
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get -y -qq upgrade
    apt-get install -y -qq --no-install-recommends \
        ca-certificates python3.11 python3.11-venv python3-venv python-is-python3
    apt-get clean
'
# What debootstrap installed before the dpkg rule existed; caches and device nodes.
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/lintian \
    "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/debconf/*-old \
    "${rootfs:?}"/var/log/* "${rootfs:?}"/dev/* "${rootfs:?}"/proc/* "${rootfs:?}"/sys/* "${rootfs:?}"/tmp/* \
    "$rootfs"/root/.cache
find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias \
    -exec rm -rf {} +

ctr=$(buildah from scratch)
mnt=$(buildah mount "$ctr")
tar -C "$rootfs" -cf - . | tar -C "$mnt" -xpf -
buildah umount "$ctr" >/dev/null
buildah config --env LANG=C.UTF-8 --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd python3 --label org.opencontainers.image.description="Debian bookworm with Debian's Python 3.11 (local base)" \
    "$ctr"
buildah commit --quiet --rm "$ctr" "$tag" >/dev/null
ctr=
buildah images "$tag"

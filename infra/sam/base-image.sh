#!/usr/bin/env bash
# Builds, offline, the base image `sam local` runs our provided.al2023 functions in (there is no
# registry to pull public.ecr.aws/lambda/provided from): a root filesystem holding only what a
# cargo-lambda `bootstrap` and SAM's image build need — the host's glibc loader and libraries
# (the binary links glibc dynamically), and a static busybox for the `sh`, `mv` and `chmod` SAM
# runs while adding its runtime interface emulator — imported with `docker import`.
set -euo pipefail
image="${1:-kupe/lambda-provided:al2023-offline}"
busybox="$(command -v busybox || true)"
if [ -z "$busybox" ] || ! file -L "$busybox" 2>/dev/null | grep -q "statically linked"; then
  if [ -x /bin/busybox ] && ldd /bin/busybox 2>&1 | grep -q "not a dynamic"; then
    busybox=/bin/busybox
  else
    (apt-get install -y -qq busybox-static >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq busybox-static >/dev/null; })
    busybox=/bin/busybox
  fi
fi
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,tmp,var/task,var/runtime,var/rapid,opt,etc,lib64,lib/x86_64-linux-gnu,usr/lib/x86_64-linux-gnu}
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for tool in sh mv chmod cp rm mkdir ls cat env; do ln -s busybox "$root/bin/$tool"; done
for lib in ld-linux-x86-64.so.2; do cp -L "/lib64/$lib" "$root/lib64/"; done
for lib in libc.so.6 libm.so.6 libgcc_s.so.1 libpthread.so.0 libdl.so.2 librt.so.1; do
  cp -L "/lib/x86_64-linux-gnu/$lib" "$root/lib/x86_64-linux-gnu/"
done
cp -rL /etc/ssl "$root/etc/ssl" 2>/dev/null || true
echo 'nobody:x:65534:65534:nobody:/:/bin/sh' > "$root/etc/passwd"
tar -C "$root" -c . | docker import -c 'ENV PATH=/bin LANG=C.UTF-8 TZ=:/etc/localtime' - "$image" >/dev/null
echo "$image"

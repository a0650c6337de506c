#!/bin/bash
# Runs `kdumpkit save` where it is meant to run: inside a real capture kernel, on the real
# /proc/vmcore (read through mmap when build/kdumpkit_mmap.node is built, as makedumpfile reads
# it), and checks the result against a save of the same dump made on the host with --no-mmap.
#
# Like ../shared/lab/make-vmcore.sh: QEMU (TCG) boots a Debian kernel with crashkernel=, which
# loads a capture kernel with kexec -p and crashes (sysrq-c). The capture kernel mounts this
# machine's / read-only over virtio-9p and runs this checkout's dist/ with the host's node (through
# the host's dynamic loader):  kdumpkit save /proc/vmcore - --level L -c C --threads 2 > /dev/vdb
# (a flattened stream onto a raw disk), and copies /proc/vmcore raw to /dev/vda with dd.
# On the host: reassemble the stream, save the dd copy with --no-mmap, and compare the files.
#
# Usage: scripts/capture-kernel-save.sh OUTDIR [MEM_MB=1024] [LEVEL=31] [CODEC=zlib] [KVER]
# Env: CAPTURE_CRASHKERNEL (default 512M: the capture kernel holds node), CAPTURE_TIMEOUT (s).
# Needs: qemu-system-x86, busybox-static, kexec-tools, cpio, xz-utils, a built checkout.
set -euo pipefail
OUT=${1:?outdir}; MEM=${2:-1024}; LEVEL=${3:-31}; CODEC=${4:-zlib}; KVER=${5:-$(ls /lib/modules | sort -V | tail -1)}
REPO=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
NODE=$(readlink -f "$(command -v node)")
LOADER=$(readlink -f /lib64/ld-linux-x86-64.so.2)
# The directories node's libraries come from, as seen under /host in the capture kernel.
LIBPATH=$(ldd "$NODE" | grep -o '/[^ ]*\.so[^ ]*' | xargs -n1 dirname | sort -u | sed 's|^|/host|' | paste -sd:)
[ -f "$REPO/dist/src/cli/main.js" ] || { echo "build first: npm run build" >&2; exit 1; }
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
rm -f "$OUT/guest.kdump" "$OUT/host.kdump" "$OUT/vmcore.elf"   # this script's own outputs
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
R=$W/root; mkdir -p $R/{bin,sbin,proc,sys,dev,tmp,host,lib64,lib/x86_64-linux-gnu,mods}
cp /bin/busybox $R/bin/busybox
cp /usr/sbin/kexec $R/sbin/
for l in $(ldd /usr/sbin/kexec | grep -o '/lib[^ ]*'); do cp -L "$l" "$R$l" 2>/dev/null || cp -L "$l" $R/lib/x86_64-linux-gnu/; done

# Modules and what they depend on (modinfo), in load order.
order=()
add_mod() {
  local name=$1 f dep
  for x in "${order[@]:-}"; do [ "$x" = "$name" ] && return 0; done
  f=$(modinfo -k "$KVER" -n "$name" 2>/dev/null) || return 0
  [ "$f" = "(builtin)" ] && return 0
  for dep in $(modinfo -k "$KVER" -F depends "$name" | tr ',' ' '); do add_mod "$dep"; done
  case $f in *.xz) xz -dc "$f" > "$R/mods/$name.ko" ;; *.zst) zstd -qdc "$f" > "$R/mods/$name.ko" ;; *) cp "$f" "$R/mods/$name.ko" ;; esac
  order+=("$name")
}
for m in virtio_pci virtio_blk 9pnet_virtio 9p; do add_mod $m; done
MODS="${order[*]}"

cat > $R/init <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
if [ -e /proc/vmcore ]; then
  echo "CAP: capture kernel up, vmcore size \$(stat -c %s /proc/vmcore)"
  for m in $MODS; do insmod /mods/\$m.ko || echo "CAP: insmod \$m failed"; done
  i=0; while [ ! -b /dev/vdb ] && [ \$i -lt 100 ]; do sleep 0.1; i=\$((i + 1)); done
  mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose hostroot /host || echo "CAP: 9p mount failed"
  echo "CAP: save start"
  # The host's node through the host's dynamic loader and libraries (no chroot: /proc is ours).
  /host$LOADER --library-path $LIBPATH /host$NODE /host$REPO/dist/src/cli/main.js save /proc/vmcore - --level $LEVEL --compress $CODEC --threads 2 --json > /dev/vdb 2>/tmp/save.err
  echo "CAP: save rc=\$?"
  sed 's/^/CAP: save: /' /tmp/save.err | tr '\n' ' ' | tr -s ' '; echo
  stat -c %s /proc/vmcore > /tmp/size
  dd if=/proc/vmcore of=/dev/vda bs=1M 2>&1 | tail -1
  sync
  echo "CAP: vmcore copied \$(cat /tmp/size)"
  poweroff -f
fi
echo "CAP: first kernel up"
kexec -p /vmlinuz --initrd=/capture.img --append="console=ttyS0 nr_cpus=1 reset_devices irqpoll" || echo "CAP: kexec failed"
echo "CAP: crash_loaded=\$(cat /sys/kernel/kexec_crash_loaded)"
mkdir -p /tmp/w; dd if=/dev/urandom of=/tmp/w/data bs=1M count=8 2>/dev/null
sync
echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger
echo "CAP: still alive?"; sleep 5; poweroff -f
INIT
chmod +x $R/init
(cd $R && find . | cpio -o -H newc 2>/dev/null | gzip -1 > $W/capture.img)
cp /boot/vmlinuz-$KVER $R/vmlinuz; cp $W/capture.img $R/capture.img
(cd $R && find . | cpio -o -H newc 2>/dev/null | gzip -1 > $W/initrd.img)
truncate -s $((MEM + 64))M $W/vmcore.raw
truncate -s $((MEM + 64))M $W/stream.raw
timeout ${CAPTURE_TIMEOUT:-1800} qemu-system-x86_64 -machine q35,accel=tcg -cpu max -smp 2 -m $MEM -nographic -no-reboot \
  -kernel /boot/vmlinuz-$KVER -initrd $W/initrd.img \
  -append "console=ttyS0 crashkernel=${CAPTURE_CRASHKERNEL:-512M} loglevel=4 panic=0" \
  -drive file=$W/vmcore.raw,format=raw,if=virtio -drive file=$W/stream.raw,format=raw,if=virtio \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on \
  -device vmcoreinfo > $OUT/console.log 2>&1 || true
grep -a '^CAP:' $OUT/console.log | tr -d '\r' | cut -c1-400
SIZE=$(grep -a 'CAP: vmcore copied' $OUT/console.log | tail -1 | awk '{print $4}' | tr -d '\r')
[ -n "$SIZE" ] || { echo "no vmcore captured; see $OUT/console.log" >&2; exit 1; }
grep -aq 'CAP: save rc=0' $OUT/console.log || { echo "kdumpkit save failed in the capture kernel; see $OUT/console.log" >&2; exit 1; }
if [ -f "$REPO/build/kdumpkit_mmap.node" ] && ! grep -aq '"read": "mmap"' $OUT/console.log; then
  echo "the save in the capture kernel did not read /proc/vmcore through mmap; see $OUT/console.log" >&2; exit 1
fi
grep -a 'CAP: save:' $OUT/console.log | tr -d '\r' | grep -o '"read": "[a-z]*"' || true
head -c $SIZE $W/vmcore.raw > $OUT/vmcore.elf
K=(node "$REPO/dist/src/cli/main.js")
"${K[@]}" reassemble $W/stream.raw $OUT/guest.kdump
"${K[@]}" save $OUT/vmcore.elf $OUT/host.kdump --level $LEVEL --compress $CODEC --no-mmap --quiet
if cmp -s $OUT/guest.kdump $OUT/host.kdump; then
  echo "OK: the save made in the capture kernel from /proc/vmcore equals the host's save of the same dump ($(stat -c %s $OUT/host.kdump) bytes, level $LEVEL, $CODEC)"
else
  echo "MISMATCH: $OUT/guest.kdump and $OUT/host.kdump differ" >&2; cmp $OUT/guest.kdump $OUT/host.kdump | head -3 >&2; exit 1
fi

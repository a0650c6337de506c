#!/bin/bash
# Hypervisor-side dumps WITH VMCOREINFO (what `virsh dump --memory-only` gives for a guest that
# publishes it). ../shared/lab/make-qemu-dump.sh boots a guest that loads no modules; Debian
# builds qemu_fw_cfg as a module, and without it the guest never hands QEMU's vmcoreinfo device
# its VMCOREINFO note, so those dumps have none. This guest loads qemu_fw_cfg first.
# Usage: make-qemu-dump.sh OUTDIR [MEM_MB] [KERNEL_RELEASE]
# Output: OUTDIR/qemu.elf, qemu.kdump-{zlib,lzo,snappy} (those this QEMU can write),
# console.log, kernel-release.
set -euo pipefail
OUT=${1:?outdir}; MEM=${2:-448}; KVER=${3:-$(ls /lib/modules | sort -V | tail -1)}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
W=$(mktemp -d); trap 'kill "${QPID:-}" 2>/dev/null || true; rm -rf "$W"' EXIT
R=$W/root; mkdir -p "$R"/{bin,proc,sys,dev}
cp /bin/busybox "$R/bin/busybox"
M=/lib/modules/$KVER/kernel/drivers/firmware/qemu_fw_cfg.ko
if [ -f "$M" ]; then cp "$M" "$R/qemu_fw_cfg.ko"; elif [ -f "$M.xz" ]; then xz -dc "$M.xz" > "$R/qemu_fw_cfg.ko"; fi
cat > "$R/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys
[ -f /qemu_fw_cfg.ko ] && insmod /qemu_fw_cfg.ko
echo "LAB: vmcoreinfo device $(ls /sys/firmware/qemu_fw_cfg/by_name/etc 2>/dev/null | grep -c vmcoreinfo)"
hostname lab-qemu-dump
(while :; do sleep 1; done) &
sleep 1; echo "LAB: panicking"; echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger
INIT
chmod +x "$R/init"
(cd "$R" && find . | cpio -o -H newc 2>/dev/null | gzip -1 > "$W/initrd.img")
qemu-system-x86_64 -machine q35,accel=tcg -cpu max -smp 2 -m "$MEM" -nographic -no-reboot \
  -kernel "/boot/vmlinuz-$KVER" -initrd "$W/initrd.img" -append "console=ttyS0 panic=0" \
  -device vmcoreinfo -monitor "unix:$W/mon,server,nowait" > "$OUT/console.log" 2>&1 &
QPID=$!
for _ in $(seq 120); do grep -aq 'end Kernel panic' "$OUT/console.log" 2>/dev/null && break; sleep 1; done
grep -aq 'end Kernel panic' "$OUT/console.log" || { echo "guest did not panic; see $OUT/console.log" >&2; exit 1; }
# One monitor command per connection; wait for the prompt that follows it.
mon() {
  python3 - "$W/mon" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(900)
def until_prompt():
    buf = b""
    while not buf.rstrip().endswith(b"(qemu)"):
        chunk = s.recv(4096)
        if not chunk: return buf
        buf += chunk
    return buf
until_prompt()
s.sendall((sys.argv[2] + "\n").encode())
out = until_prompt().decode(errors="replace")
if "rror" in out: print(out, file=sys.stderr)
PY
}
mon "dump-guest-memory $OUT/qemu.elf"
for f in zlib:-z lzo:-l snappy:-s; do mon "dump-guest-memory ${f#*:} $OUT/qemu.kdump-${f%%:*}"; done
mon quit || true; wait "$QPID" 2>/dev/null || true
echo "$KVER" > "$OUT/kernel-release"

#!/usr/bin/env bash
# Prepare the real crash dumps the tests read, under the test cache
# (${KDUMPKIT_TEST_CACHE:-<repo>/.cache}):
#
#   vmcores/NAME/vmcore.elf            ../shared/vmcores/NAME/vmcore.elf.zst, decompressed and
#                                      checked against vmcore.elf.sha256
#   vmcores/NAME/vmcore.d0.zlib        makedumpfile -c -d 0     (kdump-compressed, zlib)
#   vmcores/NAME/vmcore.d31.zlib       makedumpfile -c -d 31
#   vmcores/NAME/vmcore.d31.lzo        makedumpfile -l -d 31
#   vmcores/NAME/vmcore.d1.raw         makedumpfile -d 1        (kdump format, pages uncompressed)
#   vmcores/NAME/vmcore.d31.flat       makedumpfile -F -c -d 31 (flattened stream from stdout)
#   vmcores/NAME/vmcore.d31.elf        makedumpfile -E -d 31
#   vmcores/NAME/dmesg.txt             makedumpfile --dump-dmesg
#   each of these with FILE.log: makedumpfile's output at --message-level 31
#
# and, when QEMU and a kernel are installed, real dumps made with ../shared/lab (which boots the
# newest kernel in /lib/modules):
#
#   lab/4level-sysrq/                  LAB_CRASHKERNEL=192M LAB_CMDLINE=no5lvl make-vmcore.sh OUT
#                                      448 sysrq: vmcore.elf (4-level paging, checked in its
#                                      VMCOREINFO), console.log, kernel-release, crash-mode,
#                                      make-vmcore.log, and the same vmcore.* files and dmesg.txt
#                                      as above
#   lab/qemu/                          make-qemu-dump.sh OUT 448: qemu.elf and the kdump formats
#                                      this QEMU writes (qemu.kdump-zlib; -lzo and -snappy only if
#                                      it has them; QEMU < 8.2 writes them as flattened streams),
#                                      formats.txt (which formats worked, flattened or not, and
#                                      whether the dump has VMCOREINFO), console.log,
#                                      kernel-release, make-qemu-dump.log;
#                                      qemu.kdump-FMT.reassembled: makedumpfile -R of a flattened
#                                      one; and, only if qemu.elf has VMCOREINFO, qemu.d0.zlib ...
#                                      qemu.d31.elf and dmesg.txt from it as above (best effort)
#
# Idempotent: an output that exists and is complete is skipped. Every file is written under a
# temporary name and renamed when complete (a lab directory is renamed into place as a whole),
# so an interrupted run never leaves a partial file under a final name. A derived file older
# than the ELF it comes from is remade.
#
# One line per artifact. Exit status 1 if anything failed. Missing optional tools (QEMU, a
# kernel, the lab's helpers) are a note on a developer machine and a failure in CI (CI set and
# non-empty, as test/helpers/dumps.ts reads it), because the tests then need every file.
# KDUMPKIT_SKIP_LAB=1 skips the QEMU dumps (a note; a failure in CI).
set -euo pipefail

REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
SHARED=${KDUMPKIT_SHARED:-$REPO/../shared}
CACHE=${KDUMPKIT_TEST_CACHE:-$REPO/.cache}
LAB=$SHARED/lab
LAB_MEM=448
LAB_TIME_LIMIT=${KDUMPKIT_LAB_TIME_LIMIT:-900}  # seconds for one whole lab script run

made=0 skipped=0 failed=0 notes=0
TMPS=()     # temporary files and directories to remove on exit
LAB_PID=    # the running lab script's `timeout` (its own process group, QEMU included)
cleanup() {
  stop_lab
  if [ ${#TMPS[@]} -gt 0 ]; then rm -rf -- "${TMPS[@]}"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { printf 'prepare-test-dumps: %s\n' "$*"; }
rel() { local p=$1; printf '%s' "${p#"$CACHE"/}"; }
size_of() { local s; s=$(stat -c %s "$1"); printf '%s bytes, %s' "$s" "$(numfmt --to=iec-i --suffix=B "$s")"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f s", b - a }'; }
did_make() { made=$((made + 1)); say "made    $(rel "$1") ($(size_of "$1"), $(since "$2"))${3:+ $3}"; }
did_skip() { skipped=$((skipped + 1)); say "skip    $(rel "$1") (already complete)${2:+ $2}"; }
fail() { failed=$((failed + 1)); say "FAILED  $*" >&2; }
note() { notes=$((notes + 1)); say "note    $*"; }
# Something optional is unavailable: a note here, a failure in CI.
optional() { if [ -n "${CI:-}" ]; then fail "$* (required in CI)"; else note "$*"; fi; }

# magic FILE KIND: FILE is non-empty and starts the way KIND does.
magic() {
  [ -s "$1" ] || return 1
  case $2 in
    elf) [ "$(head -c 4 "$1" | tail -c 3)" = ELF ] ;;
    kdump) [ "$(head -c 5 "$1")" = KDUMP ] ;;
    flat) [ "$(head -c 12 "$1")" = makedumpfile ] ;;
    kdump-or-flat) magic "$1" kdump || magic "$1" flat ;;
    text) true ;;
  esac
}

# elf_notes ELF: the bytes of the ELF64 file's PT_NOTE segments (not of its memory, which may
# hold VMCOREINFO text too).
elf_notes() {
  local f=$1 phoff phent phnum i base off size
  _u() { od -An -t "u$1" -j "$2" -N "$1" "$f" | tr -d ' '; }
  phoff=$(_u 8 32); phent=$(_u 2 54); phnum=$(_u 2 56)
  for ((i = 0; i < phnum; i++)); do
    base=$((phoff + i * phent))
    [ "$(_u 4 "$base")" = 4 ] || continue
    off=$(_u 8 $((base + 8))); size=$(_u 8 $((base + 32)))
    tail -c +$((off + 1)) "$f" | head -c "$size" || true
  done
}

# vmcoreinfo_value ELF KEY: KEY's value in the dump's VMCOREINFO note (empty if absent).
vmcoreinfo_value() {
  elf_notes "$1" | grep -a -o -m1 "$2=[^[:cntrl:]]*" | cut -d= -f2- || true
}

# derive ELF OUT KIND WHERE MAKEDUMPFILE-ARGS...: OUT made by makedumpfile from ELF, its
# messages in OUT.log. WHERE is "file" (OUT is makedumpfile's output file) or "stdout".
derive() {
  local elf=$1 out=$2 kind=$3 where=$4; shift 4
  local log=$out.log tmp=$out.tmp tlog=$out.log.tmp t0=$EPOCHREALTIME rc=0
  if magic "$out" "$kind" && [ -s "$log" ] && ! [ "$elf" -nt "$out" ]; then did_skip "$out"; return 0; fi
  rm -f -- "$tmp" "$tlog"; TMPS+=("$tmp" "$tlog")
  if [ "$where" = stdout ]; then
    makedumpfile "$@" --message-level 31 "$elf" > "$tmp" 2> "$tlog" || rc=$?
  else
    makedumpfile "$@" --message-level 31 "$elf" "$tmp" > "$tlog" 2>&1 || rc=$?
  fi
  if [ $rc -ne 0 ] || ! magic "$tmp" "$kind"; then
    mv -f -- "$tlog" "$out.failed.log"; rm -f -- "$tmp"
    if [ "$DERIVE_MODE" = required ]; then
      fail "$(rel "$out"): makedumpfile $* exited $rc; see $out.failed.log"
    else
      note "$(rel "$out") not made: makedumpfile $* exited $rc ($(grep -a -v '^\s*$' "$out.failed.log" | grep -av 'makedumpfile Failed' | tail -1)); see $out.failed.log"
    fi
    return 0
  fi
  chmod 644 "$tmp" "$tlog"
  # Log first, data last: the data file appearing is what marks the pair complete.
  mv -f -- "$tlog" "$log"; mv -f -- "$tmp" "$out"; rm -f -- "$out.failed.log"
  did_make "$out" "$t0" "(makedumpfile $*)"
}

# reassemble FLAT OUT: OUT = makedumpfile -R < FLAT (a flattened stream made seekable).
reassemble() {
  local in=$1 out=$2 tmp=$2.tmp tlog=$2.log.tmp t0=$EPOCHREALTIME rc=0
  if magic "$out" kdump && [ -s "$out.log" ] && ! [ "$in" -nt "$out" ]; then did_skip "$out"; return 0; fi
  rm -f -- "$tmp" "$tlog"; TMPS+=("$tmp" "$tlog")
  makedumpfile -R "$tmp" < "$in" > "$tlog" 2>&1 || rc=$?
  if [ $rc -ne 0 ] || ! magic "$tmp" kdump; then
    mv -f -- "$tlog" "$out.failed.log"; rm -f -- "$tmp"
    fail "$(rel "$out"): makedumpfile -R exited $rc; see $out.failed.log"
    return 0
  fi
  chmod 644 "$tmp" "$tlog"
  mv -f -- "$tlog" "$out.log"; mv -f -- "$tmp" "$out"; rm -f -- "$out.failed.log"
  did_make "$out" "$t0" "(makedumpfile -R < $(basename "$in"))"
}

# derive_all ELF DIR STEM required|best-effort: every makedumpfile-derived file of one ELF dump.
# A best-effort file that makedumpfile cannot make is a note, not a failure.
DERIVE_MODE=required
derive_all() {
  local elf=$1 d=$2 s=$3
  DERIVE_MODE=$4
  derive "$elf" "$d/$s.d0.zlib" kdump file -c -d 0
  derive "$elf" "$d/$s.d31.zlib" kdump file -c -d 31
  derive "$elf" "$d/$s.d31.lzo" kdump file -l -d 31
  derive "$elf" "$d/$s.d1.raw" kdump file -d 1
  derive "$elf" "$d/$s.d31.flat" flat stdout -F -c -d 31
  derive "$elf" "$d/$s.d31.elf" elf file -E -d 31
  derive "$elf" "$d/dmesg.txt" text file --dump-dmesg
}

# shared_elf SRCDIR OUTDIR: OUTDIR/vmcore.elf from SRCDIR/vmcore.elf.zst, checksum-verified.
shared_elf() {
  local src=$1 out=$2/vmcore.elf want got t0=$EPOCHREALTIME
  if [ ! -s "$src/vmcore.elf.sha256" ]; then fail "$(rel "$out"): no $src/vmcore.elf.sha256 to verify against"; return 1; fi
  want=$(awk '{ print $1; exit }' "$src/vmcore.elf.sha256")
  if [ -f "$out" ]; then
    got=$(sha256sum < "$out" | awk '{ print $1 }')
    if [ "$got" = "$want" ]; then did_skip "$out" "(sha256 ok)"; return 0; fi
    say "redo    $(rel "$out") (sha256 $got, want $want)"
  fi
  local tmp=$out.tmp
  rm -f -- "$tmp"; TMPS+=("$tmp")
  if ! zstd -d -q -f --long=27 -o "$tmp" "$src/vmcore.elf.zst"; then
    rm -f -- "$tmp"; fail "$(rel "$out"): zstd -d --long=27 $src/vmcore.elf.zst failed"; return 1
  fi
  got=$(sha256sum < "$tmp" | awk '{ print $1 }')
  if [ "$got" != "$want" ]; then
    rm -f -- "$tmp"; fail "$(rel "$out"): sha256 $got of the decompressed file, want $want"; return 1
  fi
  # zstd copies the source's old mtime; a fresh one makes every derived file older and so redone.
  chmod 644 "$tmp"; touch "$tmp"; mv -f -- "$tmp" "$out"
  did_make "$out" "$t0" "(zstd -d --long=27, sha256 ok)"
}

shared_dumps() {
  local root=$SHARED/vmcores d name any=
  if [ ! -d "$root" ]; then optional "no shared dumps: $root does not exist"; return 0; fi
  for d in "$root"/*/; do
    d=${d%/}; name=$(basename "$d")
    [ -f "$d/vmcore.elf.zst" ] || continue
    any=1
    mkdir -p "$CACHE/vmcores/$name"
    if shared_elf "$d" "$CACHE/vmcores/$name"; then
      derive_all "$CACHE/vmcores/$name/vmcore.elf" "$CACHE/vmcores/$name" vmcore required
    fi
  done
  [ -n "$any" ] || optional "no shared dumps: no $root/*/vmcore.elf.zst"
}

# The lab scripts boot the newest release in /lib/modules, from /boot/vmlinuz-RELEASE.
# shellcheck disable=SC2012 # exactly as the lab scripts pick it
KVER=$(ls /lib/modules 2> /dev/null | sort -V | tail -1 || true)

# lab_prerequisites: empty if make-vmcore.sh / make-qemu-dump.sh can run, else what is missing.
lab_prerequisites() {
  local missing=() t
  command -v qemu-system-x86_64 > /dev/null || missing+=("qemu-system-x86_64 (apt-get install qemu-system-x86)")
  if [ -z "$KVER" ] || [ ! -f "/boot/vmlinuz-$KVER" ]; then
    missing+=("a kernel: /boot/vmlinuz-${KVER:-*} for the newest /lib/modules entry (apt-get install linux-image-amd64)")
  fi
  [ -x /bin/busybox ] || missing+=("/bin/busybox (apt-get install busybox-static)")
  [ -x /usr/sbin/kexec ] || missing+=("/usr/sbin/kexec (apt-get install kexec-tools)")
  for t in cpio gzip xz python3 timeout; do command -v "$t" > /dev/null || missing+=("$t"); done
  [ -x "$LAB/make-vmcore.sh" ] && [ -x "$LAB/make-qemu-dump.sh" ] || missing+=("the lab scripts in $LAB")
  if [ ${#missing[@]} -gt 0 ]; then printf '%s; ' "${missing[@]}"; fi
}

# descendants PID: every process under PID (read from /proc: no procps needed).
descendants() {
  local f c
  for f in /proc/[0-9]*/stat; do
    c=$(cut -d' ' -f1,4 "$f" 2> /dev/null) || continue
    [ "${c#* }" = "$1" ] || continue
    echo "${c%% *}"
    descendants "${c%% *}"
  done
}

# stop_lab_qemu: end the QEMU of the running lab script (the script itself then goes on, finds
# no dump and exits non-zero, cleaning up after itself).
stop_lab_qemu() {
  local p
  for p in $(descendants "$LAB_PID"); do
    if [ "$(cat "/proc/$p/comm" 2> /dev/null)" = qemu-system-x86 ]; then kill -TERM "$p" 2> /dev/null || true; fi
  done
}

# stop_lab: end a running lab script. Its QEMU first (make-vmcore.sh runs QEMU under a timeout of
# its own, in another process group), so the script goes on to remove its own temporary files;
# then the script itself if it has not ended within 10 s.
stop_lab() {
  local _
  [ -n "$LAB_PID" ] || return 0
  stop_lab_qemu
  for _ in $(seq 20); do kill -0 "$LAB_PID" 2> /dev/null || break; sleep 0.5; done
  kill -TERM "$LAB_PID" 2> /dev/null || true
  wait "$LAB_PID" 2> /dev/null || true
  LAB_PID=
}

# run_lab LOG CONSOLE SCRIPT ARGS...: one lab script under a time limit, its output in LOG. It
# runs in the background so that an interrupt of this script can stop it (and its QEMU) in
# cleanup. If CONSOLE (the guest's serial log) shows the capture kernel was not loaded, the guest
# can only hang in its panic until the lab's own timeout: its QEMU is stopped at once instead.
run_lab() {
  local log=$1 console=$2 rc=0 stopped=; shift 2
  timeout --kill-after=30 "$LAB_TIME_LIMIT" "$@" > "$log" 2>&1 < /dev/null 9>&- &
  LAB_PID=$!
  while kill -0 "$LAB_PID" 2> /dev/null; do
    if [ -z "$stopped" ] && [ -n "$console" ] && grep -aqs 'LAB: crash_loaded=0' "$console"; then
      stopped=1; sleep 1; stop_lab_qemu
    fi
    sleep 1
  done
  wait "$LAB_PID" || rc=$?
  LAB_PID=
  return $rc
}

# lab_why DIR: one line on why a lab run in DIR made no dump.
lab_why() {
  local c=$1/console.log why
  why=$(grep -a -m1 -E 'cannot allocate crashkernel|Memory for crashkernel is not reserved' "$c" 2> /dev/null | tr -d '\r' || true)
  if [ -n "$why" ]; then printf 'capture kernel not loaded: %s' "$why"; return 0; fi
  why=$(grep -a 'LAB:' "$c" 2> /dev/null | tail -1 | tr -d '\r' || true)
  printf 'last guest step "%s"; script said "%s"' "${why:-none}" "$(tail -1 "$1"/make-*.log 2> /dev/null | tr -d '\r' || true)"
}

# lab_failed TMPDIR NAME WHY: keep what a failed lab run left as lab/NAME.failed for a look.
lab_failed() {
  rm -rf -- "$CACHE/lab/$2.failed"
  if [ -d "$1" ]; then mv -f -- "$1" "$CACHE/lab/$2.failed"; fi
  fail "lab/$2: $3; see $CACHE/lab/$2.failed/"
}

# A kdump capture in make-vmcore.sh: 448 MB guest, 192 MB reserved for the capture kernel, as
# the shared dumps were made (256 MB, the lab default, often finds no room at 448 MB). Whether
# the reservation fits depends on where KASLR put the kernel, so a run that found no room (about
# 1 in 6 on 6.12) is tried again.
LAB_CRASHKERNEL=${LAB_CRASHKERNEL:-192M}
LAB_ATTEMPTS=${KDUMPKIT_LAB_ATTEMPTS:-4}

lab_4level() {
  local dir=$CACHE/lab/4level-sysrq tmp=$CACHE/lab/.4level-sysrq.tmp t0=$EPOCHREALTIME t1 l5 n ok=''
  if magic "$dir/vmcore.elf" elf && [ -s "$dir/kernel-release" ] && [ -s "$dir/crash-mode" ]; then
    did_skip "$dir/vmcore.elf" "(kernel $(cat "$dir/kernel-release"))"
  else
    TMPS+=("$tmp")
    for n in $(seq "$LAB_ATTEMPTS"); do
      rm -rf -- "$tmp"; mkdir -p "$tmp"; t1=$EPOCHREALTIME
      say "boot    lab/4level-sysrq (attempt $n of $LAB_ATTEMPTS): kernel $KVER, ${LAB_MEM} MB, crashkernel=$LAB_CRASHKERNEL no5lvl, sysrq crash, kdump capture under TCG"
      if LAB_CRASHKERNEL=$LAB_CRASHKERNEL LAB_CMDLINE=no5lvl run_lab "$tmp/make-vmcore.log" "$tmp/console.log" \
        "$LAB/make-vmcore.sh" "$tmp" "$LAB_MEM" sysrq && magic "$tmp/vmcore.elf" elf; then
        ok=1; break
      fi
      say "retry   lab/4level-sysrq attempt $n made no dump in $(since "$t1"): $(lab_why "$tmp")"
    done
    if [ -z "$ok" ]; then lab_failed "$tmp" 4level-sysrq "no dump in $LAB_ATTEMPTS attempts"; return 0; fi
    l5=$(vmcoreinfo_value "$tmp/vmcore.elf" 'NUMBER(pgtable_l5_enabled)')
    if [ "$l5" = 1 ]; then lab_failed "$tmp" 4level-sysrq "VMCOREINFO says NUMBER(pgtable_l5_enabled)=1: not a 4-level dump"; return 0; fi
    chmod 644 "$tmp"/*
    rm -rf -- "$dir" "$CACHE/lab/4level-sysrq.failed"; mv -f -- "$tmp" "$dir"
    did_make "$dir/vmcore.elf" "$t0" "(kernel $(cat "$dir/kernel-release"), 4-level paging: NUMBER(pgtable_l5_enabled)=${l5:-absent}; boot to saved dump $(since "$t1"), attempt $n)"
  fi
  derive_all "$dir/vmcore.elf" "$dir" vmcore required
}

# make-qemu-dump.sh: the guest panics without kdump and QEMU writes its memory with
# dump-guest-memory, as ELF and in each kdump-compressed format this QEMU has. Debian's QEMU 7.2
# has zlib only ("kdump-lzo is not available now"); a missing format is recorded in formats.txt
# and is no failure. scripts/lab/make-qemu-dump.sh (not ../shared/lab's, whose guest loads no
# modules) loads Debian's modular qemu_fw_cfg so QEMU gets the guest's VMCOREINFO;
# formats.txt says whether the dump has it.
lab_qemu() {
  local dir=$CACHE/lab/qemu tmp=$CACHE/lab/.qemu.tmp t0=$EPOCHREALTIME t1 f n ok='' why
  if magic "$dir/qemu.elf" elf && magic "$dir/qemu.kdump-zlib" kdump-or-flat && [ -s "$dir/formats.txt" ] && [ -s "$dir/kernel-release" ]; then
    did_skip "$dir/qemu.elf" "(kernel $(cat "$dir/kernel-release"); $(grep -v ': failed' "$dir/formats.txt" | paste -sd' '))"
  else
    TMPS+=("$tmp")
    for n in 1 2; do
      rm -rf -- "$tmp"; mkdir -p "$tmp"; t1=$EPOCHREALTIME
      say "boot    lab/qemu (attempt $n of 2): kernel $KVER, ${LAB_MEM} MB, panic, QEMU dump-guest-memory in each format under TCG"
      if run_lab "$tmp/make-qemu-dump.log" "" "$REPO/scripts/lab/make-qemu-dump.sh" "$tmp" "$LAB_MEM" \
        && magic "$tmp/qemu.elf" elf && magic "$tmp/qemu.kdump-zlib" kdump-or-flat; then
        ok=1; break
      fi
      say "retry   lab/qemu attempt $n made no ELF and zlib dump in $(since "$t1"): $(lab_why "$tmp")"
    done
    if [ -z "$ok" ]; then lab_failed "$tmp" qemu "no ELF and kdump-zlib dump from QEMU in 2 attempts"; return 0; fi
    {
      echo "elf: ok"
      for f in zlib lzo snappy; do
        if magic "$tmp/qemu.kdump-$f" kdump; then
          echo "kdump-$f: ok"
        elif magic "$tmp/qemu.kdump-$f" flat; then
          echo "kdump-$f: ok (flattened)"
        else
          rm -f -- "$tmp/qemu.kdump-$f"
          why=$(tr -d '\r' < "$tmp/make-qemu-dump.log" | grep -a -o -m1 "Error: .*kdump-${f}.*" || true)
          echo "kdump-$f: failed: ${why:-no file written}"
        fi
      done
      if [ -n "$(vmcoreinfo_value "$tmp/qemu.elf" OSRELEASE)" ]; then echo "vmcoreinfo: present"; else echo "vmcoreinfo: absent"; fi
    } > "$tmp/formats.txt"
    chmod 644 "$tmp"/*
    rm -rf -- "$dir" "$CACHE/lab/qemu.failed"; mv -f -- "$tmp" "$dir"
    did_make "$dir/qemu.elf" "$t0" "(kernel $(cat "$dir/kernel-release"), $(grep vmcoreinfo: "$dir/formats.txt"); boot, panic and all dumps $(since "$t1"))"
    for f in zlib lzo snappy; do
      if [ -f "$dir/qemu.kdump-$f" ]; then
        say "made    $(rel "$dir/qemu.kdump-$f") ($(size_of "$dir/qemu.kdump-$f"), QEMU dump-guest-memory, $(grep "^kdump-$f:" "$dir/formats.txt" | cut -d' ' -f2-))"
      else
        note "lab/qemu/qemu.kdump-$f not made: QEMU said $(grep "^kdump-$f:" "$dir/formats.txt" | cut -d: -f3- | sed 's/^ //')"
      fi
    done
  fi
  # QEMU before 8.2 writes its kdump formats as flattened streams; makedumpfile -R turns one
  # into the plain (seekable) kdump-compressed file, as QEMU 8.2's -R option would write it.
  for f in zlib lzo snappy; do
    if magic "$dir/qemu.kdump-$f" flat; then
      reassemble "$dir/qemu.kdump-$f" "$dir/qemu.kdump-$f.reassembled"
    fi
  done
  # makedumpfile needs the dump's VMCOREINFO (or a vmlinux) to read it.
  if grep -q '^vmcoreinfo: present' "$dir/formats.txt"; then
    derive_all "$dir/qemu.elf" "$dir" qemu best-effort
  else
    note "lab/qemu: no makedumpfile files from qemu.elf: it has no VMCOREINFO (the guest did not load qemu_fw_cfg)"
  fi
}

# The crashme test module's crash modes (../shared/lab/crashme), for every release of the shared
# dumps: triage and backtrace tests need a dump of each cause. Where the reservation lands
# depends on KASLR and the release (192M fits 6.12 but often not 6.1 at 448 MB, 160M the
# reverse), so attempts alternate between the two sizes.
CRASHME_MODES=(bug kthread panic softlockup workqueue)
lab_crashme() {
  local rel mode dir tmp t0 t1 n ok sizes=(192M 160M) ck
  for rel in $(cat "$SHARED"/vmcores/*/kernel-release | sort -u); do
    if [ ! -f "/boot/vmlinuz-$rel" ] || [ ! -d "/lib/modules/$rel/build" ]; then
      optional "lab crashme dumps for $rel not made: needs linux-image-$rel and linux-headers-$rel"
      continue
    fi
    if [ ! -f "$LAB/crashme-out/crashme-$rel.ko" ]; then
      "$LAB/crashme/build.sh" "$rel" > /dev/null 2>&1 || { fail "building crashme for $rel (../shared/lab/crashme/build.sh $rel)"; continue; }
    fi
    for mode in "${CRASHME_MODES[@]}"; do
      dir=$CACHE/lab/$mode-$rel tmp=$CACHE/lab/.$mode-$rel.tmp t0=$EPOCHREALTIME ok=''
      if magic "$dir/vmcore.elf" elf && [ -s "$dir/crash-mode" ]; then did_skip "$dir/vmcore.elf"; continue; fi
      TMPS+=("$tmp")
      for n in $(seq "$LAB_ATTEMPTS"); do
        ck=${sizes[$(((n - 1) % 2))]}
        rm -rf -- "$tmp"; mkdir -p "$tmp"; t1=$EPOCHREALTIME
        say "boot    lab/$mode-$rel (attempt $n of $LAB_ATTEMPTS): crashkernel=$ck, crashme mode=$mode, kdump capture under TCG"
        if LAB_CRASHKERNEL=$ck run_lab "$tmp/make-vmcore.log" "$tmp/console.log" \
          "$LAB/make-vmcore.sh" "$tmp" "$LAB_MEM" "$mode" "$rel" && magic "$tmp/vmcore.elf" elf; then
          ok=1; break
        fi
        say "retry   lab/$mode-$rel attempt $n made no dump in $(since "$t1"): $(lab_why "$tmp")"
      done
      if [ -z "$ok" ]; then lab_failed "$tmp" "$mode-$rel" "no dump in $LAB_ATTEMPTS attempts"; continue; fi
      chmod 644 "$tmp"/*
      rm -rf -- "$dir" "$CACHE/lab/$mode-$rel.failed"; mv -f -- "$tmp" "$dir"
      did_make "$dir/vmcore.elf" "$t0" "(boot to saved dump $(since "$t1"), attempt $n)"
    done
  done
}

lab_dumps() {
  local missing
  if [ -n "${KDUMPKIT_SKIP_LAB:-}" ]; then optional "lab dumps skipped: KDUMPKIT_SKIP_LAB is set"; return 0; fi
  missing=$(lab_prerequisites)
  if [ -n "$missing" ]; then optional "lab dumps (lab/4level-sysrq, lab/qemu) not made; missing: ${missing%; }"; return 0; fi
  mkdir -p "$CACHE/lab"
  lab_4level
  lab_qemu
  lab_crashme
}

main() {
  local t0=$EPOCHREALTIME t
  mkdir -p "$CACHE"
  say "cache   $CACHE"
  for t in zstd makedumpfile sha256sum numfmt flock; do
    command -v "$t" > /dev/null || { fail "$t is not installed (bash .ci/run installs the test tools)"; }
  done
  [ $failed -eq 0 ] || exit 1
  # One run at a time per cache (npm test in two terminals, say): the second waits.
  exec 9> "$CACHE/.prepare-test-dumps.lock"
  if ! flock -n 9; then say "wait    another prepare-test-dumps run holds $CACHE/.prepare-test-dumps.lock"; flock 9; fi
  shared_dumps
  lab_dumps
  say "done    $made made, $skipped skipped, $notes notes, $failed failed in $(since "$t0")"
  [ $failed -eq 0 ]
}

main "$@"

/**
 * Kernel modules an initramfs needs, found the way modprobe finds them: /lib/modules/RELEASE/
 * modules.dep lists each module's file and the files of every module it depends on
 * ("kernel/drivers/block/virtio_blk.ko.xz: kernel/drivers/virtio/virtio.ko.xz ..."), and
 * modules.builtin lists the ones compiled into the kernel (nothing to load). Both are written by
 * depmod (kmod, depmod.c). Module names compare with '-' and '_' as the same character, as
 * kmod does (modname_normalize).
 *
 * The result is in load order: every dependency before the modules that need it.
 */
import { gunzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { KdumpkitError } from '../util/errors.js';
import type { HostRoot } from '../host/root.js';

export interface ModuleFile {
  /** Normalized module name (virtio_blk). */
  readonly name: string;
  /** Path relative to /lib/modules/RELEASE, as modules.dep names it. */
  readonly relPath: string;
  /** The compression of the file: busybox insmod reads plain ELF only, so we decompress. */
  readonly compression: 'none' | 'xz' | 'zstd' | 'gzip';
}

export interface ResolvedModules {
  /** Modules to load, dependencies first. */
  readonly load: readonly ModuleFile[];
  /** Requested modules that are built into the kernel. */
  readonly builtin: readonly string[];
}

export class ModuleError extends KdumpkitError {
  constructor(message: string, hint?: string) {
    super('E_MODULE', message, hint);
  }
}

export function moduleName(relPath: string): string {
  const base = relPath.slice(relPath.lastIndexOf('/') + 1);
  return base.replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

function compressionOf(relPath: string): ModuleFile['compression'] {
  if (relPath.endsWith('.xz')) return 'xz';
  if (relPath.endsWith('.zst')) return 'zstd';
  if (relPath.endsWith('.gz')) return 'gzip';
  return 'none';
}

/** Parses modules.dep text: module name → [its file, its dependencies' files]. */
export function parseModulesDep(text: string): Map<string, { file: string; deps: string[] }> {
  const out = new Map<string, { file: string; deps: string[] }>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const file = line.slice(0, colon).trim();
    const deps = line.slice(colon + 1).trim().split(/\s+/).filter((d) => d !== '');
    out.set(moduleName(file), { file, deps });
  }
  return out;
}

/**
 * Resolves `wanted` module names for `release` under `root` into files in load order.
 * A module that is neither in modules.dep nor built in is an error naming modules.dep.
 */
export function resolveModules(root: HostRoot, release: string, wanted: readonly string[]): ResolvedModules {
  const base = `/lib/modules/${release}`;
  const depText = root.read(`${base}/modules.dep`);
  if (depText === undefined) {
    throw new ModuleError(`${root.path(`${base}/modules.dep`)}: not found: the modules of kernel ${release} are not installed`, `Install the kernel package (apt-get install linux-image-${release}) or run 'depmod ${release}'.`);
  }
  const dep = parseModulesDep(depText);
  const builtinNames = new Set((root.read(`${base}/modules.builtin`) ?? '').split('\n').filter((l) => l.trim() !== '').map((l) => moduleName(l.trim())));
  const byFile = new Map<string, string>();
  for (const [name, e] of dep) byFile.set(e.file, name);

  const order: ModuleFile[] = [];
  const done = new Set<string>();
  const builtin: string[] = [];
  const visit = (name: string, chain: readonly string[]): void => {
    if (done.has(name)) return;
    const entry = dep.get(name);
    if (!entry) throw new ModuleError(`${root.path(`${base}/modules.dep`)}: no module '${name}'${chain.length ? ` (needed by ${chain.join(' <- ')})` : ''}`, 'Run depmod for this kernel, or check that its package is complete.');
    if (chain.includes(name)) throw new ModuleError(`${root.path(`${base}/modules.dep`)}: dependency cycle ${[...chain, name].join(' -> ')}`);
    // modules.dep lists the full (transitive) dependency set; visiting each dependency's own
    // line as well keeps the order right even when a depmod listed them in another order.
    for (const d of entry.deps) visit(byFile.get(d) ?? moduleName(d), [...chain, name]);
    done.add(name);
    order.push({ name, relPath: entry.file, compression: compressionOf(entry.file) });
  };
  for (const w of wanted) {
    const n = w.replace(/-/g, '_');
    if (builtinNames.has(n) && !dep.has(n)) {
      builtin.push(n);
      continue;
    }
    visit(n, []);
  }
  return { load: order, builtin };
}

/**
 * The plain ELF bytes of a module: .ko as is, .ko.gz with node:zlib, .ko.xz and .ko.zst with
 * the xz and zstd programs from PATH (Node has no xz codec; busybox insmod loads plain files).
 */
export function moduleBytes(root: HostRoot, release: string, m: ModuleFile): Buffer {
  const path = `/lib/modules/${release}/${m.relPath}`;
  const data = root.readBytes(path);
  if (data === undefined) throw new ModuleError(`${root.path(path)}: not found (listed in modules.dep)`, 'Run depmod for this kernel, or reinstall its package.');
  if (m.compression === 'none') return data;
  if (m.compression === 'gzip') return gunzipSync(data);
  const tool = m.compression === 'xz' ? 'xz' : 'zstd';
  const exe = root.which(tool);
  if (!exe) throw new ModuleError(`${root.path(path)}: needs '${tool}' to decompress, and it is not on PATH`, `Install it: apt-get install ${tool === 'xz' ? 'xz-utils' : 'zstd'}`);
  const r = spawnSync(exe, ['-dc'], { input: data, maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new ModuleError(`${root.path(path)}: ${tool} -dc failed: ${r.stderr.toString().trim().split('\n')[0] ?? `exit ${r.status}`}`);
  return r.stdout;
}

#!/usr/bin/env node
// Builds native/kdumpkit_mmap.c (read-only mmap of dump files, see its header) into
// build/kdumpkit_mmap.node with the C compiler and the Node-API headers of this Node.js
// installation. No node-gyp, nothing downloaded. Never fails the install: without the helper
// kdumpkit reads dumps with pread, only slower.
//   npm install / npm ci run it (the "install" script); so does npm run build.
//   KDUMPKIT_NO_NATIVE=1 skips it; CC picks the compiler (default cc).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'native', 'kdumpkit_mmap.c');
const out = join(root, 'build', 'kdumpkit_mmap.node');
const say = (m) => process.stderr.write(`kdumpkit native helper: ${m}\n`);

function headers() {
  const prefix = process.config.variables.node_prefix;
  const dirs = [join(dirname(process.execPath), '..', 'include', 'node'), ...(typeof prefix === 'string' ? [join(prefix, 'include', 'node')] : [])];
  return dirs.find((d) => existsSync(join(d, 'node_api.h')));
}

function main() {
  if (process.env.KDUMPKIT_NO_NATIVE) return say('skipped (KDUMPKIT_NO_NATIVE)');
  if (process.platform !== 'linux') return say(`not built on ${process.platform} (Linux only); dumps are read with pread`);
  if (!existsSync(src)) return;
  const inc = headers();
  if (!inc) return say(`not built: no node_api.h beside ${process.execPath} (install the Node.js headers); dumps are read with pread`);
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.tmp`;
  const cc = process.env.CC || 'cc';
  const r = spawnSync(cc, ['-O2', '-fPIC', '-shared', '-std=c11', '-D_GNU_SOURCE', '-Wall', '-Wextra', '-Werror', `-I${inc}`, src, '-o', tmp], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    rmSync(tmp, { force: true });
    return say(`not built (${r.error ? `${cc}: ${r.error.message}` : r.stderr.trim().split('\n').slice(-3).join(' / ')}); dumps are read with pread`);
  }
  renameSync(tmp, out);
}

main();

/**
 * The compact symbol table (typed-array columns, names kept token-compressed and expanded on
 * demand, hash name index) against a straightforward decode of the same kallsyms: every symbol
 * of both real dumps, by name and by address, must give the same answers.
 *
 * The reference below is written the way kernel/kallsyms.c reads the tables (one name after
 * the other, each expanded to a string; kallsyms_sym_address() per symbol with BigInt), and a
 * symbolize() by plain binary search over those arrays.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openDump, type Dump } from '../../../src/formats/open.js';
import { X86_64AddressSpace } from '../../../src/memory/arch/x86_64.js';
import type { VirtualMemory } from '../../../src/memory/address-space.js';
import type { Vmcoreinfo } from '../../../src/formats/vmcore/vmcoreinfo.js';
import { loadSymbols } from '../../../src/kernel/symbols/discover.js';
import { need, sharedDumps } from '../../helpers/dumps.js';

interface Reference {
  names: string[];
  types: string[];
  addresses: bigint[];
}

/** kallsyms decoded the simple way (Linux ≥ 6.1 lengths, x86_64 absolute-percpu offsets). */
function referenceDecode(mem: VirtualMemory, info: Vmcoreinfo): Reference {
  const sym = (k: string): bigint => info.requireSymbol(k);
  const u32 = (b: Uint8Array, o: number) => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(o, true);
  const n = u32(mem.read(sym('kallsyms_num_syms'), 4), 0);
  const index = mem.read(sym('kallsyms_token_index'), 512);
  const table = mem.read(sym('kallsyms_token_table'), 4096);
  const tokens: string[] = [];
  for (let t = 0; t < 256; t++) {
    const start = index[2 * t]! | (index[2 * t + 1]! << 8);
    tokens.push(Buffer.from(table.subarray(start, table.indexOf(0, start))).toString('latin1'));
  }
  const namesLen = Number(sym('kallsyms_token_table') - sym('kallsyms_names'));
  const stream = mem.read(sym('kallsyms_names'), namesLen);
  const names: string[] = [];
  const types: string[] = [];
  let off = 0;
  for (let i = 0; i < n; i++) {
    let len = stream[off++]!;
    if (len & 0x80) len = (len & 0x7f) | (stream[off++]! << 7);
    let s = '';
    for (let j = 0; j < len; j++) s += tokens[stream[off + j]!];
    off += len;
    types.push(s[0]!);
    names.push(s.slice(1));
  }
  const offsets = mem.read(sym('kallsyms_offsets'), n * 4);
  const dv = new DataView(offsets.buffer, offsets.byteOffset, offsets.byteLength);
  const baseBytes = mem.read(sym('kallsyms_relative_base'), 8);
  const base = new DataView(baseBytes.buffer, baseBytes.byteOffset, 8).getBigUint64(0, true);
  const addresses: bigint[] = [];
  for (let i = 0; i < n; i++) {
    const v = dv.getInt32(i * 4, true);
    addresses.push(v >= 0 ? BigInt(v) : base - 1n - BigInt(v));
  }
  return { names, types, addresses };
}

const opened: Dump[] = [];
after(() => {
  for (const d of opened) d.close();
});

for (const s of sharedDumps()) {
  test(`compact symbol table of ${s.name} (kdump zstd): every symbol by name and by address as the straightforward decode says`, async (t) => {
    const path = join(s.dir, 'vmcore.d31.zstd');
    if (!need(t, path)) return;
    const dump = await openDump(path);
    opened.push(dump);
    const mem = X86_64AddressSpace.fromDump(dump);
    const ref = referenceDecode(mem, dump.vmcoreinfo!);
    const n = ref.names.length;
    // The reference addresses are sorted (kallsyms is): check, as the reference symbolize needs it.
    for (let i = 1; i < n; i++) assert.ok(ref.addresses[i - 1]! <= ref.addresses[i]!, `reference unsorted at ${i}`);

    const t0 = performance.now();
    const { table } = loadSymbols(dump, mem, { root: '/nonexistent-root' });
    t.diagnostic(`loadSymbols: ${(performance.now() - t0).toFixed(0)} ms for ${table.size} symbols`);
    assert.equal(table.source, 'kallsyms (dump memory)');
    assert.equal(table.size, n);

    // By name: every name's symbols in source order; lookup() is the first of them.
    const byName = new Map<string, number[]>();
    for (let i = 0; i < n; i++) {
      const l = byName.get(ref.names[i]!);
      if (l) l.push(i);
      else byName.set(ref.names[i]!, [i]);
    }
    let dups = 0;
    for (const [name, idx] of byName) {
      const all = table.lookupAll(name);
      assert.deepEqual(
        all.map((x) => [x.name, x.type, x.address]),
        idx.map((i) => [ref.names[i], ref.types[i], ref.addresses[i]]),
        name,
      );
      assert.equal(table.lookup(name), all[0], name);
      assert.equal(table.address(name), ref.addresses[idx[0]!], name);
      assert.equal(table.has(name), true, name);
      if (idx.length > 1) dups++;
    }
    for (const name of ['', 'no_such_symbol', 'init_task_', '_stex', 'T_stext', 'init_task\0']) {
      assert.equal(table.lookup(name), undefined, JSON.stringify(name));
      assert.equal(table.has(name), false, JSON.stringify(name));
      assert.deepEqual(table.lookupAll(name), []);
    }
    t.diagnostic(`${byName.size} distinct names (${dups} of them on several symbols) agree`);

    // By address: the first alias at or below, its offset, and the size to the next distinct address.
    const refSymbolize = (x: bigint): [number, bigint, bigint | undefined] | undefined => {
      let lo = 0;
      let hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (ref.addresses[mid]! <= x) lo = mid + 1;
        else hi = mid;
      }
      if (lo === 0) return undefined;
      const start = ref.addresses[lo - 1]!;
      if (lo === n && x !== start) return undefined;
      let first = lo - 1;
      while (first > 0 && ref.addresses[first - 1] === start) first--;
      return [first, x - start, lo < n ? ref.addresses[lo]! - start : undefined];
    };
    const check = (x: bigint) => {
      const want = refSymbolize(x);
      const got = table.symbolize(x);
      if (!want) {
        assert.equal(got, undefined, `0x${x.toString(16)}`);
        return;
      }
      assert.ok(got, `0x${x.toString(16)}`);
      const [i, offset, size] = want;
      assert.deepEqual(
        [got.symbol.name, got.symbol.type, got.symbol.address, got.offset, got.size],
        [ref.names[i], ref.types[i], ref.addresses[i], offset, size],
        `0x${x.toString(16)}`,
      );
    };
    for (let i = 0; i < n; i++) {
      const a = ref.addresses[i]!;
      check(a);
      check(a + 1n);
      if (a > 0n) check(a - 1n);
      if (i + 1 < n && ref.addresses[i + 1]! > a + 1n) check(ref.addresses[i + 1]! - 1n);
    }
    check(ref.addresses[n - 1]! + 1n);
    check(0xffffffffffffffffn);
    check(-1n);

    // all() and sortedByAddress(): every symbol once, in source order (= address order here).
    const all = table.all();
    assert.equal(all.length, n);
    for (let i = 0; i < n; i++) {
      const x = all[i]!;
      if (x.name !== ref.names[i] || x.type !== ref.types[i] || x.address !== ref.addresses[i]) {
        assert.fail(`all()[${i}] is ${x.type} ${x.name} ${x.address.toString(16)}, reference ${ref.types[i]} ${ref.names[i]} ${ref.addresses[i]!.toString(16)}`);
      }
      assert.equal(Object.keys(x).join(), 'name,address,type');
    }
    assert.deepEqual(table.sortedByAddress(), all);
    // Objects handed out before and after all() are the same objects.
    assert.equal(table.lookup('_stext'), all[byName.get('_stext')![0]!]);
  });
}

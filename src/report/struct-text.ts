import type { StructReport } from '../analyze/struct.js';

/** Text rendering of `kdumpkit struct`, in the spirit of crash's `struct`. */
export function renderStructText(r: StructReport): string {
  const head = `${r.name} {${r.address !== undefined ? `  /* at 0x${r.address.toString(16)} */` : ''}`;
  const lines = r.rows.map((row) => {
    const off = `[${row.offset}${row.bitSize !== undefined ? `:${row.bitOffset}` : ''}]`.padStart(8);
    const bits = row.bitSize !== undefined ? ` : ${row.bitSize}` : '';
    let v = '';
    if (row.value !== undefined) v = typeof row.value === 'bigint' ? ` = 0x${row.value.toString(16)}` : ` = ${row.value}`;
    return `${off} ${declare(row.typeName, row.path)}${bits};${v}`;
  });
  return [head, ...lines, `}`, `SIZE: ${r.size}`, ''].join('\n');
}

/** C declarator: `char [16]` + `comm` -> `char comm[16]`, `struct x *` + `p` -> `struct x *p`. */
function declare(typeName: string, name: string): string {
  const arr = typeName.indexOf(' [');
  if (arr >= 0) return `${typeName.slice(0, arr)} ${name}${typeName.slice(arr + 1)}`;
  if (typeName.endsWith('*')) return `${typeName}${name}`;
  return `${typeName} ${name}`;
}

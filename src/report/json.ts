/**
 * JSON rendering shared by every command's `--json`: bigint values (addresses, 64-bit kernel
 * values) become "0x…" strings so no precision is lost, Dates become ISO strings, Uint8Arrays
 * become strings decoded as UTF-8 with invalid bytes replaced.
 */
export function renderJson(report: unknown): string {
  return (
    JSON.stringify(
      report,
      (_key, value: unknown) => {
        if (typeof value === 'bigint') return '0x' + value.toString(16);
        if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
        return value;
      },
      2,
    ) + '\n'
  );
}

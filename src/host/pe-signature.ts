/**
 * Whether a kernel image carries an Authenticode signature, the one kexec_file_load verifies
 * under lockdown: on x86_64, arch/x86/kernel/kexec-bzimage64.c bzImage64_verify_sig() calls
 * verify_pefile_signature() (crypto/asymmetric_keys/verify_pefile.c), which reads the PE
 * "Certificate Table" data directory (entry 4 of the optional header's data directories,
 * PE/COFF specification). An image whose entry is empty is refused with -EKEYREJECTED /
 * -ENODATA when a signature is required.
 *
 * Only the presence of the table is checked here, not the certificate chain: that needs the
 * kernel's keyrings (the distribution's key, MOK), which a file check cannot see.
 */

export type PeSignature = 'signed' | 'unsigned' | 'not-pe';

export function peSignature(bytes: Uint8Array): PeSignature {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 0x40 || b[0] !== 0x4d || b[1] !== 0x5a) return 'not-pe'; // "MZ"
  const pe = b.readUInt32LE(0x3c);
  if (pe + 24 > b.length || b.readUInt32LE(pe) !== 0x00004550) return 'not-pe'; // "PE\0\0"
  const opt = pe + 24;
  if (opt + 2 > b.length) return 'not-pe';
  const magic = b.readUInt16LE(opt);
  // PE32+ (0x20b): NumberOfRvaAndSizes at +108, directories at +112; PE32 (0x10b): +92, +96.
  const [countAt, dirsAt] = magic === 0x20b ? [108, 112] : magic === 0x10b ? [92, 96] : [-1, -1];
  if (countAt < 0 || opt + dirsAt > b.length) return 'not-pe';
  if (b.readUInt32LE(opt + countAt) <= 4) return 'unsigned';
  const entry = opt + dirsAt + 4 * 8;
  if (entry + 8 > b.length) return 'not-pe';
  return b.readUInt32LE(entry + 4) > 0 ? 'signed' : 'unsigned';
}

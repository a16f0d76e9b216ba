/**
 * SHA-256 (FIPS 180-4) of the UTF-8 encoding of a string, in plain JavaScript, for the workflow sandbox.
 *
 * The sandbox has no `node:crypto`, and WebAssembly buys little here: on this project's 2-core machines a wasm SHA-256
 * compresses at ≈ 110 MB/s against ≈ 80 MB/s for `@noble/hashes`, and the maintained wasm package (`hash-wasm`) can
 * only be instantiated asynchronously, which a workflow cannot wait for deterministically. An audit link hashes
 * ≈ 300 bytes, where the per-call overhead dominates: `@noble/hashes` goes through `TextEncoder` (a host object in
 * the sandbox), copies the bytes, and builds a hasher object per call. This function encodes straight into a reused
 * scratch buffer, compresses it in place and formats hex from a table: ≈ 2–2.5× faster on such inputs.
 *
 * Lone surrogates are encoded as U+FFFD, exactly as `TextEncoder` and `Buffer.from(text, 'utf8')` do, so the digest
 * equals `createHash('sha256').update(text, 'utf8')` for every string (test/domain/sha256.test.ts checks that against
 * node:crypto on random and edge-case input).
 *
 * Determinism: the scratch state below is module-level but fully rewritten by every call, and calls are synchronous,
 * so no call can observe another's data.
 */

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);
const INITIAL = new Int32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** The scratch buffer is reused up to this size; a larger input gets a buffer of its own, so one big write does not
 * keep its memory in every workflow that hashed it. */
const SCRATCH_MAX = 64 * 1024;
// Shared by every workflow of a worker on purpose: hashing is synchronous, so no two callers ever use it at once, and
// it is never exported (the SDK freezes what the shared modules export).
// eslint-disable-next-line no-restricted-syntax
let scratch = new Uint8Array(1024);
const W = new Int32Array(64);
const H = new Int32Array(8);

/** Encodes `text` as UTF-8 into `out` from offset 0 and returns the byte length. `out` holds ≥ 3 bytes per code unit. */
function encodeUtf8(text: string, out: Uint8Array): number {
  let p = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      out[p++] = c;
    } else if (c < 0x800) {
      out[p++] = 0xc0 | (c >> 6);
      out[p++] = 0x80 | (c & 0x3f);
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < n ? text.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          i++;
          out[p++] = 0xf0 | (c >> 18);
          out[p++] = 0x80 | ((c >> 12) & 0x3f);
          out[p++] = 0x80 | ((c >> 6) & 0x3f);
          out[p++] = 0x80 | (c & 0x3f);
          continue;
        }
        c = 0xfffd; // a lone surrogate, as TextEncoder encodes it
      }
      out[p++] = 0xe0 | (c >> 12);
      out[p++] = 0x80 | ((c >> 6) & 0x3f);
      out[p++] = 0x80 | (c & 0x3f);
    }
  }
  return p;
}

/** The number of bytes in the UTF-8 encoding of `text` (lone surrogates count as the 3 bytes of U+FFFD). */
export function utf8ByteLength(text: string): number {
  let bytes = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/** Runs the compression function over the 64-byte block at `off` of `m`, updating `H`. */
function compress(m: Uint8Array, off: number): void {
  for (let t = 0; t < 16; t++, off += 4)
    W[t] = (m[off]! << 24) | (m[off + 1]! << 16) | (m[off + 2]! << 8) | m[off + 3]!;
  for (let t = 16; t < 64; t++) {
    const w15 = W[t - 15]!;
    const w2 = W[t - 2]!;
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    W[t] = (s1 + W[t - 7]! + s0 + W[t - 16]!) | 0;
  }
  let a = H[0]!;
  let b = H[1]!;
  let c = H[2]!;
  let d = H[3]!;
  let e = H[4]!;
  let f = H[5]!;
  let g = H[6]!;
  let h = H[7]!;
  for (let t = 0; t < 64; t++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + s1 + ((e & f) ^ (~e & g)) + K[t]! + W[t]!) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  H[0] = (H[0]! + a) | 0;
  H[1] = (H[1]! + b) | 0;
  H[2] = (H[2]! + c) | 0;
  H[3] = (H[3]! + d) | 0;
  H[4] = (H[4]! + e) | 0;
  H[5] = (H[5]! + f) | 0;
  H[6] = (H[6]! + g) | 0;
  H[7] = (H[7]! + h) | 0;
}

/** Lower-case hex SHA-256 of the UTF-8 bytes of `text`; the same digest as node:crypto's for every string. */
export function sha256Hex(text: string): string {
  // 3 bytes per UTF-16 code unit is the most UTF-8 needs; 72 more cover the padding and the length.
  const need = text.length * 3 + 72;
  let buf = scratch;
  if (need > buf.length) {
    buf = new Uint8Array(need);
    if (need <= SCRATCH_MAX) scratch = buf;
  }
  const n = encodeUtf8(text, buf);
  const total = (n + 9 + 63) & ~63;
  buf[n] = 0x80;
  buf.fill(0, n + 1, total - 8);
  const hiBits = Math.floor(n / 0x20000000); // n × 8 ÷ 2^32, exact for any string length
  const loBits = (n << 3) >>> 0;
  buf[total - 8] = hiBits >>> 24;
  buf[total - 7] = hiBits >>> 16;
  buf[total - 6] = hiBits >>> 8;
  buf[total - 5] = hiBits;
  buf[total - 4] = loBits >>> 24;
  buf[total - 3] = loBits >>> 16;
  buf[total - 2] = loBits >>> 8;
  buf[total - 1] = loBits;
  H.set(INITIAL);
  for (let off = 0; off < total; off += 64) compress(buf, off);
  let hex = '';
  for (let i = 0; i < 8; i++) {
    const v = H[i]!;
    hex += HEX[v >>> 24]! + HEX[(v >>> 16) & 0xff]! + HEX[(v >>> 8) & 0xff]! + HEX[v & 0xff]!;
  }
  return hex;
}

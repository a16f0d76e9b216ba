import { createHash } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sha256Hex, utf8ByteLength } from '../../domain/sha256.js';

const nodeSha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** Any UTF-16 code unit, so lone and swapped surrogates come up as often as pairs. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const interesting = fc.constantFrom('a', 'ü', '✓', '😀', '\ud800', '\udfff', '\u0000', '\u07ff', '\u0800', '\uffff');
const anyText = fc.string({ unit: fc.oneof(codeUnit, interesting, fc.constant('x')), maxLength: 400 });

describe('sha256Hex', () => {
  it('matches the FIPS 180-4 examples', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
  });

  it('agrees with node:crypto at every length around the block and padding boundaries', () => {
    for (let n = 0; n <= 200; n++) {
      for (const unit of ['a', 'é', '✓', '😀'])
        expect(sha256Hex(unit.repeat(n)), `${n} × ${unit}`).toBe(nodeSha256(unit.repeat(n)));
    }
  });

  it('agrees with node:crypto on arbitrary UTF-16, lone surrogates included', () => {
    fc.assert(
      fc.property(anyText, (text) => sha256Hex(text) === nodeSha256(text)),
      { numRuns: 3000 },
    );
  });

  it('agrees with @noble/hashes, the implementation it replaced', () => {
    fc.assert(
      fc.property(anyText, (text) => sha256Hex(text) === bytesToHex(sha256(utf8ToBytes(text)))),
      { numRuns: 500 },
    );
  });

  it('hashes inputs larger than its scratch buffer, and small ones correctly afterwards', () => {
    const big = '😀ü'.repeat(40_000); // ≈ 240 KB of UTF-8, past the reused buffer
    expect(sha256Hex(big)).toBe(nodeSha256(big));
    expect(sha256Hex('x'.repeat(20_000))).toBe(nodeSha256('x'.repeat(20_000)));
    expect(sha256Hex('abc')).toBe(nodeSha256('abc'));
  });
});

describe('utf8ByteLength', () => {
  it('counts the bytes Buffer encodes, lone surrogates as U+FFFD', () => {
    fc.assert(
      fc.property(anyText, (text) => utf8ByteLength(text) === Buffer.byteLength(text, 'utf8')),
      { numRuns: 2000 },
    );
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { children, namedBits, objectIdentifier, readElement, sequence, time, unsignedInteger } from './der.js';

describe('DER', () => {
  it.each([
    ['a small OID', '2.5.4.3', '0603550403'],
    ['an OID with multi-byte arcs', '1.2.840.10045.4.3.2', '06082a8648ce3d040302'],
  ])('encodes %s', (_name, oid, hex) => {
    expect(objectIdentifier(oid).toString('hex')).toBe(hex);
  });

  it.each([
    ['keyCertSign and cRLSign', [5, 6], '03020106'],
    ['digitalSignature alone', [0], '03020780'],
  ])('encodes key usage %s with the unused-bit count DER wants', (_name, bits, hex) => {
    expect(namedBits(bits).toString('hex')).toBe(hex);
  });

  it.each([
    ['a date before 2050 as UTCTime', new Date('2030-01-02T03:04:05Z'), '170d3330303130323033303430355a'],
    ['a date from 2050 as GeneralizedTime', new Date('2050-01-01T00:00:00Z'), '180f32303530303130313030303030305a'],
  ])('encodes %s', (_name, date, hex) => {
    expect(time(date).toString('hex')).toBe(hex);
  });

  it('writes integers minimally and never negative', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 40 }), (bytes) => {
        const encoded = unsignedInteger(bytes);
        const element = readElement(encoded, 0);
        expect(element.tag).toBe(2);
        expect((element.content[0] as number) & 0x80).toBe(0);
        if (element.content.length > 1) expect(element.content[0] === 0 && ((element.content[1] as number) & 0x80) === 0).toBe(false);
        expect(BigInt(`0x${element.content.toString('hex')}`)).toBe(BigInt(`0x${Buffer.from(bytes).toString('hex')}`));
      }),
    );
  });

  it('reads back what it writes, for any content length', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 5 }), (parts) => {
        const items = parts.map((p) => unsignedInteger(p.length === 0 ? new Uint8Array([0]) : p));
        const encoded = sequence(...items);
        const parsed = readElement(encoded, 0);
        expect(parsed.raw.length).toBe(encoded.length);
        expect(children(parsed).map((c) => c.raw.toString('hex'))).toEqual(items.map((i) => i.toString('hex')));
      }),
    );
  });
});

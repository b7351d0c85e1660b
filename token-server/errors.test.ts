import { describe, expect, it } from 'vitest';
import { ERRORS, TokenServerError, catalogueCodeFor, errorBody, type ErrorCode } from './errors.js';

const codes = Object.keys(ERRORS) as ErrorCode[];

describe('the error catalogue', () => {
  it.each(codes)('%s has a client or server status, a registry code and a sentence', (code) => {
    const entry = ERRORS[code];
    expect(entry.status).toBeGreaterThanOrEqual(400);
    expect(entry.status).toBeLessThan(600);
    expect(entry.registryCode).toMatch(/^[A-Z_]+$/);
    expect(entry.oauthError).toMatch(/^[a-z_]+$/);
    expect(entry.message.length).toBeGreaterThan(5);
    expect(entry.message).not.toMatch(/\.$/);
  });

  it.each(codes)('%s makes a registry-style body and round-trips through the mapper', (code) => {
    const body = errorBody(code, 'some detail');
    expect(body.errors).toHaveLength(1);
    expect(body.errors[0]).toEqual({ code: ERRORS[code].registryCode, message: `${ERRORS[code].message}: some detail`, detail: 'some detail' });
    expect(body.error).toBe(ERRORS[code].oauthError);
    expect(catalogueCodeFor(new TokenServerError(code))).toBe(code);
  });

  it('only the server-side failures are 5xx', () => {
    expect(codes.filter((c) => ERRORS[c].status >= 500).sort()).toEqual(['IDENTITY_SOURCE_UNAVAILABLE', 'INTERNAL', 'NOT_READY', 'REGISTRY_READ_ONLY']);
  });

  it.each([
    ['a body-limit error', { statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' }, 'PAYLOAD_TOO_LARGE'],
    ['a content-type error', { statusCode: 415 }, 'UNSUPPORTED_MEDIA_TYPE'],
    ['any other client error', { statusCode: 400 }, 'INVALID_REQUEST'],
    ['an unknown route', { statusCode: 404 }, 'NOT_FOUND'],
    ['a thrown bug', new TypeError('x is undefined'), 'INTERNAL'],
    ['a server-side status', { statusCode: 502 }, 'INTERNAL'],
  ])('maps %s', (_name, error, code) => {
    expect(catalogueCodeFor(error)).toBe(code);
  });
});

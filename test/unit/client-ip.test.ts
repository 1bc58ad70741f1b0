import { describe, expect, it } from 'vitest';
import { ClientIp } from '../../gateway/auth/client-ip.js';
import { chosenProtocol, credentialsOf, tokenOfProtocols } from '../../gateway/auth/credentials.js';
import type { HttpRequest, HttpResponse } from '../../gateway/uws.js';

/** Just enough of uWS's response and request for the address and header readers. */
function fake(peer: number[], headers: Record<string, string> = {}, query: Record<string, string> = {}) {
  const res = { getRemoteAddress: () => new Uint8Array(peer).buffer, getRemoteAddressAsText: () => new TextEncoder().encode('::1').buffer } as unknown as HttpResponse;
  const req = { getHeader: (name: string) => headers[name] ?? '', getQuery: (name: string) => query[name] } as unknown as HttpRequest;
  return { res, req };
}
const mapped = (a: number, b: number, c: number, d: number) => [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d];

describe('ClientIp', () => {
  const behindProxy = new ClientIp(['127.0.0.1', '10.1.0.0/16']);

  it('is the direct peer, whatever X-Forwarded-For says, when the peer is not a trusted proxy', () => {
    const { res, req } = fake([203, 0, 113, 9], { 'x-forwarded-for': '1.2.3.4' });
    expect(behindProxy.of(res, req)).toBe('203.0.113.9');
    expect(new ClientIp([]).of(res, req)).toBe('203.0.113.9');
  });

  it('is the right-most address that is not a trusted proxy when a trusted proxy forwards', () => {
    const { res, req } = fake(mapped(127, 0, 0, 1), { 'x-forwarded-for': '6.6.6.6, 198.51.100.7, 10.1.2.3' });
    // 6.6.6.6 is what the client claimed; 198.51.100.7 is where the trusted chain begins.
    expect(behindProxy.of(res, req)).toBe('198.51.100.7');
  });

  it('falls back to the proxy itself on a missing or garbled header', () => {
    expect(behindProxy.of(fake([127, 0, 0, 1]).res, fake([127, 0, 0, 1]).req)).toBe('127.0.0.1');
    const garbled = fake([127, 0, 0, 1], { 'x-forwarded-for': 'not-an-ip' });
    expect(behindProxy.of(garbled.res, garbled.req)).toBe('127.0.0.1');
  });

  it('gives one string per address', () => {
    const a = fake([192, 0, 2, 1]);
    const b = fake(mapped(192, 0, 2, 1));
    expect(Object.is(behindProxy.of(a.res, a.req), behindProxy.of(b.res, b.req))).toBe(true);
  });
});

describe('credentials', () => {
  it('reads a bearer value, a token from the query or from the subprotocols, and flags a malformed Authorization', () => {
    expect(credentialsOf(fake([1, 2, 3, 4], { authorization: 'Bearer scout_abc' }).req)).toEqual({ bearer: 'scout_abc', token: null });
    expect(credentialsOf(fake([1, 2, 3, 4], { authorization: 'Basic eDp5' }).req)).toEqual({ bearer: '', token: null });
    expect(credentialsOf(fake([1, 2, 3, 4], {}, { token: 'a.b.c' }).req)).toEqual({ bearer: null, token: 'a.b.c' });
    expect(credentialsOf(fake([1, 2, 3, 4]).req, 'scout.v1, token.x.y.z')).toEqual({ bearer: null, token: 'x.y.z' });
    expect(tokenOfProtocols('scout.v1')).toBeNull();
  });

  it('answers a subprotocol the client offered, never a token when there is another', () => {
    expect(chosenProtocol('scout.v1, token.x.y.z')).toBe('scout.v1');
    expect(chosenProtocol('token.x.y.z')).toBe('token.x.y.z');
    expect(chosenProtocol('')).toBe('');
  });
});

import { BlockList, isIP } from 'node:net';
import type { HttpRequest, HttpResponse } from '../uws.js';

/**
 * The client's address: the direct peer, unless the peer is a trusted proxy (TRUSTED_PROXIES, the
 * load balancer), in which case the right-most address of X-Forwarded-For that is not itself a
 * trusted proxy — the left part of that header is whatever the client wrote.
 */
export class ClientIp {
  private readonly trusted: BlockList | null;

  constructor(trustedProxies: readonly string[]) {
    if (trustedProxies.length === 0) {
      this.trusted = null;
      return;
    }
    const list = new BlockList();
    for (const entry of trustedProxies) {
      const [address, bits] = entry.split('/');
      const type = isIP(address ?? '') === 6 ? 'ipv6' : 'ipv4';
      if (bits !== undefined) list.addSubnet(address!, Number(bits), type);
      else list.addAddress(address!, type);
    }
    this.trusted = list;
  }

  /** Whether the direct peer of this request is a trusted proxy (its X-Forwarded-* headers count). */
  peerIsTrusted(peer: string): boolean {
    return this.trusted !== null && this.isTrusted(peer);
  }

  /** Call synchronously in the handler: reads the peer from `res` and the header from `req`. */
  of(res: HttpResponse, req: HttpRequest): string {
    const peer = peerAddress(res);
    if (this.trusted === null || !this.isTrusted(peer)) return peer;
    return intern(this.forwarded(peer, req));
  }

  private forwarded(peer: string, req: HttpRequest): string {
    const forwarded = req.getHeader('x-forwarded-for');
    if (forwarded === '') return peer;
    const hops = forwarded.split(',').map((h) => h.trim());
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!;
      if (isIP(hop) === 0) return peer; // garbage in the chain: trust nothing past it
      if (!this.isTrusted(hop)) return hop;
    }
    return peer;
  }

  private isTrusted(address: string): boolean {
    const type = isIP(address);
    if (type === 0) return false;
    return this.trusted!.check(address, type === 6 ? 'ipv6' : 'ipv4');
  }
}

const interned = new Map<string, string>();
/** One string per address, however many sockets keep it (a socket stores its address for the connection limit). */
function intern(ip: string): string {
  const known = interned.get(ip);
  if (known !== undefined) return known;
  if (interned.size >= 100_000) interned.clear();
  interned.set(ip, ip);
  return ip;
}

const DECODER = new TextDecoder();
const IPV4 = new Map<number, string>();

/**
 * The peer as text, one string per address. Read as bytes: an IPv4 peer (also one mapped into
 * IPv6, ::ffff:a.b.c.d) is looked up by its 32-bit number, so the upgrade path neither formats nor
 * hashes a string for it (the text form showed up in profiles of connect storms).
 */
export function peerAddress(res: HttpResponse): string {
  const raw = res.getRemoteAddress();
  const bytes = new Uint8Array(raw);
  const at = bytes.length === 4 ? 0 : bytes.length === 16 && isV4Mapped(bytes) ? 12 : -1;
  if (at < 0) return intern(DECODER.decode(res.getRemoteAddressAsText()));
  const key = ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
  let text = IPV4.get(key);
  if (text === undefined) {
    text = `${bytes[at]}.${bytes[at + 1]}.${bytes[at + 2]}.${bytes[at + 3]}`;
    if (IPV4.size >= 100_000) IPV4.clear();
    IPV4.set(key, text);
  }
  return text;
}

function isV4Mapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

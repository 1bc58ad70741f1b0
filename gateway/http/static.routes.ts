import { readFileSync } from 'node:fs';
import type { TemplatedApp } from '../uws.js';
import { immediate, sendBody } from './responses.js';

/**
 * The dashboard's security headers. Scripts and styles only from this origin (no inline script:
 * an injected one does not run), no framing, no MIME sniffing, and no Referer: watch URLs carry
 * tokens (?token=…) that must not leak to other sites.
 */
export const PAGE_SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

/** Files of gateway/public/, read once at start: the dashboard needs no build step. */
const PAGES: { path: string; file: string; type: string }[] = [
  { path: '/', file: 'index.html', type: 'text/html; charset=utf-8' },
  { path: '/dashboard.css', file: 'dashboard.css', type: 'text/css; charset=utf-8' },
  { path: '/dashboard.js', file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  { path: '/job-view.js', file: 'job-view.js', type: 'text/javascript; charset=utf-8' },
  { path: '/jobs-board.js', file: 'jobs-board.js', type: 'text/javascript; charset=utf-8' },
  { path: '/best-deals.js', file: 'best-deals.js', type: 'text/javascript; charset=utf-8' },
  { path: '/favicon.svg', file: 'favicon.svg', type: 'image/svg+xml' },
  // Browsers ask for /favicon.ico whatever the page links; an SVG there is what they get.
  { path: '/favicon.ico', file: 'favicon.svg', type: 'image/svg+xml' },
];

export const STATIC_PATHS: readonly string[] = PAGES.map((p) => p.path);

export function registerStaticRoutes(app: TemplatedApp): void {
  for (const page of PAGES) {
    let body: Buffer;
    try {
      body = readFileSync(new URL(`../public/${page.file}`, import.meta.url));
    } catch {
      continue; // page not shipped in this build
    }
    app.get(page.path, (res) => sendBody(immediate(res), 200, page.type, body, { headers: { 'Cache-Control': 'no-cache', ...PAGE_SECURITY_HEADERS } }));
  }
}

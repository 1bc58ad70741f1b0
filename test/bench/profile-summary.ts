/**
 * Reads V8 CPU profiles (`node --cpu-prof`) and tells where the time went: self time per
 * function, inclusive time of chosen functions, and self time by part (uWS, ioredis, gateway …).
 * Also a command: `tsx test/bench/profile-summary.ts <file.cpuprofile>…`.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface FunctionShare {
  name: string;
  selfMs: number;
  /** Share of the busy (non-idle) time. */
  selfPct: number;
  totalPct: number;
}

export interface ProfileSummary {
  file: string;
  busyMs: number;
  idleMs: number;
  top: FunctionShare[];
  parts: { part: string; selfPct: number }[];
}

const PARTS: [string, (url: string, fn: string) => boolean][] = [
  ['garbage collector', (_u, f) => f === '(garbage collector)'],
  ['native / uWS C++ (program)', (_u, f) => f === '(program)'],
  ['gateway/', (u) => u.includes('/gateway/')],
  ['shared/', (u) => u.includes('/shared/')],
  ['test/bench/', (u) => u.includes('/test/bench/')],
  ['worker/', (u) => u.includes('/worker/')],
  ['ioredis + parser', (u) => /node_modules\/(ioredis|redis-parser|denque|cluster-key-slot|standard-as-callback)\//.test(u)],
  ['uWebSockets.js glue', (u) => u.includes('uWebSockets.js') || u.includes('uws-js')],
  ['ws / socket.io / engine.io', (u) => /node_modules\/(ws|socket\.io[^/]*|engine\.io[^/]*|@socket\.io\/[^/]+)\//.test(u)],
  ['zod', (u) => u.includes('node_modules/zod/')],
  ['pino', (u) => /node_modules\/(pino|sonic-boom|thread-stream)/.test(u)],
  ['bullmq', (u) => u.includes('node_modules/bullmq/')],
  ['pg / kysely', (u) => /node_modules\/(pg|pg-[a-z-]+|kysely)\//.test(u)],
  ['node internals', (u) => u.startsWith('node:')],
  ['native functions (no script)', (u) => u === ''],
];

/** A script's URL as in the source tree: the bench's compiled copy (test/bench/.build/<run>/) stripped. */
function sourceUrl(url: string): string {
  return url.replace(/\/test\/bench\/\.build\/[^/]+\//, '/');
}

function partOf(url: string, fn: string): string {
  const source = sourceUrl(url);
  for (const [name, test] of PARTS) if (test(source, fn)) return name;
  return 'other';
}

function shortUrl(raw: string): string {
  if (!raw) return '';
  const url = sourceUrl(raw);
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const m = /\/(gateway|shared|worker|test)\/.*$/.exec(url);
  return m ? m[0].slice(1) : url.replace(/^file:\/\//, '');
}

function keyOf(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = shortUrl(url);
  return `${functionName || '(anonymous)'}${where ? ` ${where}:${lineNumber + 1}` : ''}`;
}

export function summarizeProfile(file: string, topN = 20): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  let idle = 0;
  let busy = 0;
  const selfByKey = new Map<string, number>();
  const parts = new Map<string, number>();
  for (const node of profile.nodes) {
    const t = selfUs.get(node.id) ?? 0;
    if (node.callFrame.functionName === '(idle)') {
      idle += t;
      continue;
    }
    busy += t;
    const key = keyOf(node);
    selfByKey.set(key, (selfByKey.get(key) ?? 0) + t);
    const part = partOf(node.callFrame.url, node.callFrame.functionName);
    parts.set(part, (parts.get(part) ?? 0) + t);
  }
  // Inclusive time per function, counting a recursive function once per stack.
  const totalByKey = new Map<string, number>();
  const root = profile.nodes[0]!;
  const onStack = new Map<string, number>();
  const visit = (node: ProfileNode): number => {
    const key = keyOf(node);
    onStack.set(key, (onStack.get(key) ?? 0) + 1);
    let total = selfUs.get(node.id) ?? 0;
    for (const child of node.children ?? []) total += visit(byId.get(child)!);
    const depth = onStack.get(key)! - 1;
    if (depth === 0) {
      onStack.delete(key);
      if (node.callFrame.functionName !== '(idle)') totalByKey.set(key, (totalByKey.get(key) ?? 0) + total);
    } else {
      onStack.set(key, depth);
    }
    return total;
  };
  visit(root);
  const pct = (us: number) => (busy > 0 ? (us / busy) * 100 : 0);
  const top = [...selfByKey.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, topN)
    .map(([name, us]) => ({ name, selfMs: us / 1000, selfPct: pct(us), totalPct: pct(totalByKey.get(name) ?? us) }));
  return {
    file: basename(file),
    busyMs: busy / 1000,
    idleMs: idle / 1000,
    top,
    parts: [...parts.entries()].sort((a, b) => b[1] - a[1]).map(([part, us]) => ({ part, selfPct: pct(us) })),
  };
}

/** Inclusive share of the functions whose name matches, from a summary's full profile. */
export function inclusiveShares(file: string, names: string[]): { name: string; totalPct: number }[] {
  const summary = summarizeProfile(file, Number.MAX_SAFE_INTEGER);
  return names.map((name) => {
    const hits = summary.top.filter((f) => f.name === name || f.name.startsWith(`${name} `));
    return { name, totalPct: hits.reduce((a, f) => Math.max(a, f.totalPct), 0) };
  });
}

export function renderProfile(s: ProfileSummary): string {
  const lines = [
    `#### ${s.file}: ${(s.busyMs / 1000).toFixed(1)} s busy, ${(s.idleMs / 1000).toFixed(1)} s idle`,
    '',
    '| self % | incl. % | function |',
    '|---:|---:|---|',
    ...s.top.map((f) => `| ${f.selfPct.toFixed(1)} | ${f.totalPct.toFixed(1)} | \`${f.name}\` |`),
    '',
    'Self time by part: ' + s.parts.map((p) => `${p.part} ${p.selfPct.toFixed(1)} %`).join(', '),
    '',
  ];
  return lines.join('\n');
}

if (process.argv[1] && import.meta.url.endsWith(basename(process.argv[1]))) {
  for (const file of process.argv.slice(2)) process.stdout.write(renderProfile(summarizeProfile(file, 30)) + '\n');
}

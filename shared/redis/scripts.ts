import { readFileSync } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';

/**
 * Lua scripts live beside this file as `<name>-<numKeys>.lua`, or `<name>-n.lua` when the number
 * of keys varies: then the caller passes it as the first argument.
 */
function loadScript(file: string): { lua: string; numberOfKeys?: number } {
  const match = /-(\d+|n)\.lua$/.exec(file);
  if (!match) throw new Error(`script file ${file} does not end in -<numKeys>.lua or -n.lua`);
  const lua = readFileSync(new URL(`./${file}`, import.meta.url), 'utf8');
  return match[1] === 'n' ? { lua } : { lua, numberOfKeys: Number(match[1]) };
}

const SCRIPTS = {
  emitEvent: loadScript('emit-events-n.lua'),
  readJob: loadScript('read-job-2.lua'),
} as const;

export type ScriptName = keyof typeof SCRIPTS;

type ScriptCommand = (...keysAndArgs: (string | number)[]) => Promise<unknown>;

/**
 * Registers the project's scripts on a client (EVALSHA, falling back to EVAL once per
 * connection) and returns them as typed functions.
 */
export function registerScripts(redis: Redis | Cluster): Record<ScriptName, ScriptCommand> {
  const commands = {} as Record<ScriptName, ScriptCommand>;
  for (const [name, script] of Object.entries(SCRIPTS) as [ScriptName, (typeof SCRIPTS)[ScriptName]][]) {
    if (!(name in redis)) redis.defineCommand(name, script);
    const command = (redis as unknown as Record<string, ScriptCommand>)[name]!;
    commands[name] = command.bind(redis);
  }
  return commands;
}

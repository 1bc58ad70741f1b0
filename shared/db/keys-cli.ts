import { parseArgs } from 'node:util';
import { loadConfigOrExit } from '../startup.js';
import { ApiKeyNameTakenError, createApiKey, listApiKeys, revokeApiKey } from './api-keys.repository.js';
import { createDatabase } from './database.js';
import { migrateToLatest } from './migrate.js';

const USAGE = `Usage: npm run keys -- <command>      (in an image: node dist/shared/db/keys-cli.js <command>)

  create <name>   create an API key; its value is printed once, alone on the last line
  list            list keys (name, first characters, created, revoked)
  revoke <name>   revoke a key: every gateway refuses it within a second

Reads DATABASE_URL like the services.
`;

const NAME = /^[A-Za-z0-9._@-]{1,100}$/;
const out = (line: string) => process.stdout.write(`${line}\n`);
const fail = (message: string, code = 2) => {
  process.stderr.write(`keys: ${message}\n`);
  process.exitCode = code;
};

let command: string | undefined;
let name: string | undefined;
try {
  const { positionals, values } = parseArgs({ options: { help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  if (values.help) command = 'help';
  else [command, name] = positionals;
} catch (error) {
  command = undefined;
  fail((error as Error).message);
}

if (command === 'help' || command === undefined) {
  if (command === 'help') out(USAGE);
  else if (process.exitCode === undefined) fail(`name a command\n\n${USAGE}`);
} else if ((command === 'create' || command === 'revoke') && (name === undefined || !NAME.test(name))) {
  fail(`${command} needs a key name: letters, digits, ".", "_", "@" or "-" (1-100)`);
} else if (!['create', 'list', 'revoke'].includes(command)) {
  fail(`unknown command "${command}"\n\n${USAGE}`);
} else {
  const config = loadConfigOrExit('keys');
  const db = createDatabase(config.databaseUrl, 1);
  try {
    await migrateToLatest(db);
    if (command === 'create') {
      const { key, row } = await createApiKey(db, name!);
      out(`created API key "${row.name}" (id ${row.id}). It is shown only now; send it as Authorization: Bearer <key>.`);
      out(key);
    } else if (command === 'list') {
      const keys = await listApiKeys(db);
      if (keys.length === 0) out('no API keys yet: npm run keys -- create <name>');
      for (const k of keys) {
        out(`${k.name}\t${k.key_prefix}…\tcreated ${k.created_at.toISOString()}\t${k.revoked_at ? `revoked ${k.revoked_at.toISOString()}` : 'active'}`);
      }
    } else if (await revokeApiKey(db, name!)) {
      out(`revoked API key "${name}"`);
    } else {
      fail(`no active key named "${name}"`, 1);
    }
  } catch (error) {
    if (error instanceof ApiKeyNameTakenError) fail(error.message, 1);
    else fail(`failed: ${(error as Error).message}`, 1);
  } finally {
    await db.destroy();
  }
}

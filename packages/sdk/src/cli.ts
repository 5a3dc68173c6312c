#!/usr/bin/env node
/**
 * `npx assay-sdk sync [dir] [--api-url URL] [--api-key KEY]` — upload spooled metrics left behind
 * by runs that could not deliver them (the TypeScript twin of `python -m research_sdk sync`).
 * Uses ASSAY_API_KEY / ASSAY_API_URL; prints a JSON summary on stdout. `dir` defaults to
 * `$ASSAY_SPOOL_DIR/node` (plus legacy segments in `$ASSAY_SPOOL_DIR`).
 *
 * Exit status: 0 all sent; 1 something failed (see `errors`); 2 usage; 3 nothing failed, but the
 * Python SDK's spool was found (`foreign`, with the command that sends it; also on stderr).
 */
import { syncSpool } from './sync.ts';
import { consoleLogger } from './logger.ts';

const USAGE = 'usage: assay-sdk sync [dir] [--api-url URL] [--api-key KEY]\n';

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === '--help' || cmd === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (cmd !== 'sync') {
    process.stderr.write(USAGE);
    return 2;
  }
  let dir: string | undefined;
  let apiUrl: string | undefined;
  let apiKey: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === '--api-url') apiUrl = rest[++i];
    else if (a === '--api-key') apiKey = rest[++i];
    else if (!dir && !a.startsWith('--')) dir = a;
    else {
      process.stderr.write(`unexpected argument ${a}\n${USAGE}`);
      return 2;
    }
  }
  const res = await syncSpool(dir, { apiUrl, apiKey, logger: consoleLogger('info') });
  process.stdout.write(JSON.stringify(res) + '\n');
  if (res.failed > 0) return 1;
  return res.foreign.length > 0 ? 3 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);

/**
 * `node --import tsx packages/sdk/src/cli.ts sync [dir] [--api-url URL]` — upload spooled metrics
 * left behind by runs that could not reach the server (the TypeScript twin of
 * `python -m research_sdk sync`). Uses ASSAY_API_KEY / ASSAY_API_URL; prints a JSON summary.
 */
import { syncSpool } from './ops.ts';
import { defaultSpoolDir } from './spool.ts';
import { consoleLogger } from './logger.ts';

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd !== 'sync') {
    process.stderr.write('usage: cli.ts sync [dir] [--api-url URL] [--api-key KEY]\n');
    return 2;
  }
  let dir: string | undefined;
  let apiUrl: string | undefined;
  let apiKey: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === '--api-url') apiUrl = rest[++i];
    else if (a === '--api-key') apiKey = rest[++i];
    else if (!dir) dir = a;
    else {
      process.stderr.write(`unexpected argument ${a}\n`);
      return 2;
    }
  }
  const res = await syncSpool(dir ?? defaultSpoolDir(), { apiUrl, apiKey, logger: consoleLogger('info') });
  process.stdout.write(JSON.stringify(res) + '\n');
  return res.failed > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);

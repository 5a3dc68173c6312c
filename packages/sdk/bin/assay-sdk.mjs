#!/usr/bin/env node
// `npx assay-sdk sync [dir]` — runs the built CLI (dist/cli.js). This shim is committed so npm can
// link the bin on `npm ci` before the `prepare` script has built dist/.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('assay-sdk: dist/ is not built — run `npm run build -w packages/sdk` (npm ci does it)\n');
  process.exit(1);
}
await import(cli.href);

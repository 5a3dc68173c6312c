// npm run gen:contract-vectors — renders packages/contracts/vectors.json (the shared accept/refuse
// cases the Python SDK's tests read) from packages/contracts/src/vectors.ts.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderVectorsJson } from '../packages/contracts/src/vectors.ts';

const out = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'packages', 'contracts', 'vectors.json');
fs.writeFileSync(out, renderVectorsJson());
console.log(`wrote ${path.relative(process.cwd(), out)}`);

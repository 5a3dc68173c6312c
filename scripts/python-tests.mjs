// npm run test:python — the Python SDK's unittest suite (it starts its own server on a free port).
import { spawnSync } from 'node:child_process';
const r = spawnSync(process.env.PYTHON || 'python3', ['-m', 'unittest', 'discover', '-s', 'python/tests', '-v'], { stdio: 'inherit' });
process.exit(r.status ?? 1);

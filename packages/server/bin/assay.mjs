#!/usr/bin/env node
// The TypeScript sources run directly through tsx: no build step between `npm ci` and `npm start`.
import { register } from 'tsx/esm/api';

// Everything the server writes — metadata, metric parts, artifacts, the admin token in server.json —
// is the user's alone: directories 0700, files 0600, including what PGlite and chDB create.
process.umask(0o077);

const unregister = register();
// Resolves once the command is running (for `serve`: listening). Every source module is loaded by
// then, so the transpiler (and its esbuild child process) can go: ~12 MB less at idle.
await import('../src/cli.ts');
await unregister();

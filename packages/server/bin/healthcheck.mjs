#!/usr/bin/env node
// The container's health probe (Dockerfile HEALTHCHECK, deploy/docker-compose.yml): exit 0 when
// GET /readyz answers 200 (both stores answer), 1 otherwise. No curl in the slim image, so Node.
// The Host header is the first ASSAY_ALLOWED_HOSTS name: with names listed, the server answers
// 421 to any other Host (security.ts), so a probe naming 127.0.0.1 would report a healthy server
// as down.
import http from 'node:http';

const host = (process.env.ASSAY_ALLOWED_HOSTS ?? '').split(',').map((s) => s.trim()).find(Boolean) ?? 'localhost';
const port = Number(process.env.PORT || 8000);

const req = http.get({ host: '127.0.0.1', port, path: '/readyz', headers: { host: `${host}:${port}` }, timeout: 4000 }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on('timeout', () => req.destroy(new Error('timeout')));
req.on('error', (e) => {
  console.error(`readyz: ${e.message}`);
  process.exit(1);
});

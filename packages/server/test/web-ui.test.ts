import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { WEB_DIST } from '../src/plugins/web-ui.ts';
import { useTestServer } from './helpers.ts';

/** The built web UI (npm ci's prepare step builds it) served beside the API without shadowing it. */
describe('web UI serving', () => {
  const t = useTestServer('webui');
  const asset = () => {
    const html = fs.readFileSync(path.join(WEB_DIST, 'index.html'), 'utf8');
    return html.match(/src="(\/assets\/[^"]+\.js)"/)![1]!;
  };

  it('answers / and every app path with index.html, never cached', async () => {
    for (const url of ['/', '/signin?token=abc', '/p/proj/runs/run-1', '/admin']) {
      const res = await t.srv.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.body).toContain('<div id="root"></div>');
      // scripts only from this origin, nothing inline
      expect(String(res.headers['content-security-policy'])).toContain("script-src 'self'");
    }
  });

  it('serves hashed assets immutable and pre-compressed', async () => {
    const url = asset();
    const plain = await t.srv.app.inject({ method: 'GET', url });
    expect(plain.statusCode).toBe(200);
    expect(plain.headers['content-type']).toMatch(/javascript/);
    expect(plain.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const gz = await t.srv.app.inject({ method: 'GET', url, headers: { 'accept-encoding': 'gzip' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(zlib.gunzipSync(gz.rawPayload).toString()).toBe(plain.body);
  });

  it('leaves unknown API, docs and MLflow paths to their own 404s', async () => {
    const api = await t.srv.app.inject({ method: 'GET', url: '/api/v1/no-such-route' });
    expect(api.statusCode).toBe(404);
    expect(api.json()).toEqual({ detail: 'Not Found' });
    const mlflow = await t.srv.app.inject({ method: 'GET', url: '/api/2.0/mlflow/no-such-route', headers: { authorization: `Bearer ${t.team.apiKey}` } });
    expect(mlflow.statusCode, mlflow.body).toBe(404);
    expect(mlflow.json()).toHaveProperty('error_code');
    const post = await t.srv.app.inject({ method: 'POST', url: '/p/proj' });
    expect(post.statusCode).toBe(404);
    expect(post.json()).toEqual({ detail: 'Not Found' });
    const missingAsset = await t.srv.app.inject({ method: 'GET', url: '/assets/nope.js' });
    expect(missingAsset.headers['content-type']).toBe('text/html; charset=utf-8');
  });
});

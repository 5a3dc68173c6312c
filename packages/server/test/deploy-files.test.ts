import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { envSchema } from '../src/config.ts';

/**
 * The deployment files, checked without a container engine (CI has none): deploy/docker-compose.yml,
 * deploy/.env.example, the ClickHouse cluster configuration and the Dockerfile. `.ci/run` also runs
 * `docker-compose config` (Debian's 1.29) on the compose file; this test checks what that cannot:
 * that the files agree with each other and with config.ts.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const read = (p: string) => fs.readFileSync(path.join(ROOT, p), 'utf8');
const CONFIG_VARS = Object.keys(envSchema.shape).sort();

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string; target?: string };
  profiles?: string[];
  restart?: string;
  command?: string[];
  hostname?: string;
  environment?: Record<string, string>;
  env_file?: string | string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }> | string[];
  ports?: string[];
  volumes?: string[];
  networks?: Record<string, { aliases?: string[] }>;
}
interface Compose {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
}

const composeText = read('deploy/docker-compose.yml');
// `merge`: the file shares blocks through YAML anchors and << merge keys, as Compose reads them
const compose = YAML.parse(composeText, { merge: true }) as Compose;
const services = Object.entries(compose.services);
const assayServices = services.filter(([, s]) => s.build);
const apiServices = assayServices.filter(([, s]) => !s.command);
const oneShots = assayServices.filter(([, s]) => s.command);
const inProfile = (p: string) => services.filter(([, s]) => s.profiles?.includes(p)).map(([n]) => n).sort();

/** `KEY=value` and `# KEY=value` lines: active ones are set, commented ones are documented defaults. */
function envExample(): { active: Set<string>; all: Set<string> } {
  const active = new Set<string>();
  const all = new Set<string>();
  for (const line of read('deploy/.env.example').split('\n')) {
    const m = /^(#\s*)?([A-Z][A-Z0-9_]*)=/.exec(line);
    if (!m) continue;
    all.add(m[2]);
    if (!m[1]) active.add(m[2]);
  }
  return { active, all };
}

describe('deploy/docker-compose.yml', () => {
  it('has the services of the design: PostgreSQL, ClickHouse, Redis, the API behind a proxy', () => {
    expect(services.map(([n, s]) => `${n}=${s.build ? 'build' : s.image!.replace(/:.*/, '')}`).sort()).toEqual([
      'api-cluster=build', 'api=build', 'ch-s1r1=clickhouse/clickhouse-server', 'ch-s1r2=clickhouse/clickhouse-server',
      'ch-s2r1=clickhouse/clickhouse-server', 'ch-s2r2=clickhouse/clickhouse-server', 'clickhouse=clickhouse/clickhouse-server',
      'keeper1=clickhouse/clickhouse-keeper', 'keeper2=clickhouse/clickhouse-keeper', 'keeper3=clickhouse/clickhouse-keeper',
      'migrate-cluster=build', 'migrate=build', 'postgres=postgres', 'proxy=nginx', 'redis=redis',
    ]);
    // PostgreSQL 15+, Redis 7, a ClickHouse LTS line (x.3 and x.8 are the LTS releases)
    expect(compose.services.postgres.image).toBe('postgres:${POSTGRES_VERSION:-17}');
    expect(compose.services.redis.image).toBe('redis:${REDIS_VERSION:-7}-alpine');
    expect(compose.services.clickhouse.image).toMatch(/^clickhouse\/clickhouse-server:\$\{CLICKHOUSE_VERSION:-\d\d\.[38]\}$/);
  });

  it('every long-running service has a healthcheck; every dependency waits for health or for a one-shot to succeed', () => {
    const noCheck = services.filter(([, s]) => !s.healthcheck && s.restart !== 'no').map(([n]) => n);
    expect(noCheck).toEqual([]);
    for (const [name, s] of services) {
      if (!s.depends_on) continue;
      expect(Array.isArray(s.depends_on), `${name}: depends_on without conditions starts before its dependency is ready`).toBe(false);
      for (const [dep, { condition }] of Object.entries(s.depends_on)) {
        const target = compose.services[dep];
        expect(target, `${name} depends on unknown ${dep}`).toBeDefined();
        expect(condition, `${name} → ${dep}`).toBe(target.restart === 'no' ? 'service_completed_successfully' : 'service_healthy');
        expect(target.healthcheck ?? target.restart === 'no', `${name} waits for ${dep}, which has no healthcheck`).toBeTruthy();
      }
    }
  });

  it('migrations run once, in a one-shot service every API replica waits for (replicas never race to migrate)', () => {
    expect(oneShots.map(([n, s]) => [n, s.command, s.restart])).toEqual([
      ['migrate', ['migrate'], 'no'],
      ['migrate-cluster', ['migrate'], 'no'],
    ]);
    for (const [name, s] of apiServices) {
      const deps = s.depends_on as Record<string, { condition: string }>;
      const migrate = name === 'api' ? 'migrate' : 'migrate-cluster';
      expect(deps[migrate]?.condition, name).toBe('service_completed_successfully');
      // a one-shot with another service's stores would migrate the wrong cluster
      const env = compose.services[migrate].environment!;
      expect([env.CLICKHOUSE_URL, env.CLICKHOUSE_CLUSTER], name).toEqual([s.environment!.CLICKHOUSE_URL, s.environment!.CLICKHOUSE_CLUSTER]);
    }
  });

  it('the API is wired by DATABASE_URL, CLICKHOUSE_URL and REDIS_URL, and sets only variables config.ts reads', () => {
    expect(apiServices.map(([n]) => n)).toEqual(['api', 'api-cluster']);
    for (const [name, s] of assayServices) {
      const env = s.environment!;
      const unknown = Object.keys(env).filter((k) => !CONFIG_VARS.includes(k));
      expect(unknown, `${name} sets variables Assay never reads`).toEqual([]);
      expect(env.DATABASE_URL).toMatch(/^postgres:\/\/\$\{POSTGRES_USER:-assay\}:\$\{POSTGRES_PASSWORD:\?[^}]*\}@postgres:5432\//);
      expect(env.REDIS_URL).toMatch(/^redis:\/\/:\$\{REDIS_PASSWORD:\?[^}]*\}@redis:6379\/0$/);
      expect(env.CLICKHOUSE_URL).toBe(s.profiles!.includes('cluster') ? 'http://ch-s1r1:8123' : 'http://clickhouse:8123');
      expect([env.HOST, env.PORT, env.ENVIRONMENT]).toEqual(['0.0.0.0', '8000', 'production']);
      expect(s.env_file, 'the other settings come from .env').toBe('.env');
      expect(s.build).toEqual({ context: '..', dockerfile: 'Dockerfile', target: 'server' });
      // a value compose passes must parse: an empty CLICKHOUSE_CLUSTER or a bad URL stops every replica
      const sample = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v.replace(/\$\{[A-Z_]+(?::[-?]([^}]*))?\}/g, (_m, d) => (d && !/deploy\/\.env/.test(d) ? d : 'secret'))]));
      expect(envSchema.safeParse(sample).error?.issues ?? [], name).toEqual([]);
    }
  });

  it('API replicas publish no port (so --scale works); only the proxy does, and it forwards to the `api` name', () => {
    const published = services.filter(([, s]) => s.ports?.length).map(([n]) => n);
    expect(published).toEqual(['proxy']);
    for (const [name, s] of apiServices) expect((s as { deploy?: unknown }).deploy, name).toEqual({ replicas: '${ASSAY_API_REPLICAS:-1}' });
    expect(compose.services['api-cluster'].networks).toEqual({ default: { aliases: ['api'] } });
    const nginx = read('deploy/nginx/assay.conf');
    expect(nginx).toMatch(/^\s*server api:8000 resolve;$/m);
    expect(nginx).toMatch(/^resolver 127\.0\.0\.11 valid=\d+s/m);
    // the proxy overwrites X-Forwarded-For with its peer: a client cannot prepend an address of its choice
    expect(nginx).toMatch(/^\s*proxy_set_header X-Forwarded-For \$remote_addr;$/m);
    expect(nginx).toMatch(/^\s*proxy_set_header Host \$http_host;$/m);
    for (const [name, s] of apiServices) expect(s.environment!.ASSAY_TRUST_PROXY, name).toBe('uniquelocal');
  });

  it('state lives in named volumes; the API replicas share one for artifacts', () => {
    const declared = Object.keys(compose.volumes).sort();
    const used = new Set<string>();
    for (const [name, s] of services) {
      for (const v of s.volumes ?? []) {
        const src = v.split(':')[0];
        if (src.startsWith('./')) {
          expect(fs.existsSync(path.join(ROOT, 'deploy', src)), `${name} mounts missing ${src}`).toBe(true);
          expect(v.endsWith(':ro'), `${name}: config mounts are read-only (${v})`).toBe(true);
        } else {
          expect(declared, `${name} mounts undeclared volume ${src}`).toContain(src);
          used.add(src);
        }
      }
    }
    expect([...used].sort()).toEqual(declared);
    const dataVolume = (n: string, mountPoint: string) => compose.services[n].volumes!.find((v) => v.endsWith(`:${mountPoint}`))?.split(':')[0];
    expect(dataVolume('postgres', '/var/lib/postgresql/data')).toBe('postgres-data');
    expect(dataVolume('redis', '/data')).toBe('redis-data');
    expect(dataVolume('clickhouse', '/var/lib/clickhouse')).toBe('clickhouse-data');
    for (const [name] of assayServices) expect(dataVolume(name, '/data'), name).toBe('assay-data');
    for (const [name] of apiServices) expect(compose.services[name].environment!.ARTIFACT_DIR).toBe('/data/artifacts');
  });

  it('profiles: `single` and `cluster` never share a service; PostgreSQL, Redis and the proxy belong to both', () => {
    expect(services.filter(([, s]) => !s.profiles).map(([n]) => n)).toEqual(['postgres', 'redis', 'proxy']);
    expect(inProfile('single')).toEqual(['api', 'clickhouse', 'migrate']);
    expect(inProfile('cluster')).toEqual(['api-cluster', 'ch-s1r1', 'ch-s1r2', 'ch-s2r1', 'ch-s2r2', 'keeper1', 'keeper2', 'keeper3', 'migrate-cluster']);
    for (const [name, s] of services) expect(s.profiles?.length ?? 0, name).toBeLessThanOrEqual(1);
    expect(envExample().active.has('COMPOSE_PROFILES')).toBe(true);
  });
});

describe('deploy/.env.example', () => {
  it('lists every variable config.ts reads', () => {
    const { all } = envExample();
    expect(CONFIG_VARS.filter((v) => !all.has(v))).toEqual([]);
  });

  it('lists every variable docker-compose.yml interpolates, and sets nothing that neither reads', () => {
    const { active, all } = envExample();
    const interpolated = new Set([...composeText.matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1]));
    expect([...interpolated].filter((v) => !all.has(v)).sort()).toEqual([]);
    const composeOwn = ['COMPOSE_PROFILES', 'COMPOSE_PROJECT_NAME'];
    expect([...active].filter((v) => !interpolated.has(v) && !CONFIG_VARS.includes(v) && !composeOwn.includes(v))).toEqual([]);
    // the secrets are blank: compose refuses to start until they are set (${VAR:?…})
    for (const secret of ['POSTGRES_PASSWORD', 'CLICKHOUSE_PASSWORD', 'REDIS_PASSWORD', 'CLICKHOUSE_CLUSTER_SECRET']) {
      expect(read('deploy/.env.example')).toMatch(new RegExp(`^${secret}=$`, 'm'));
      expect(composeText).toContain(`\${${secret}:?`);
    }
  });

  it('its active Assay settings parse with config.ts', () => {
    const values = Object.fromEntries(
      read('deploy/.env.example').split('\n').map((l) => /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(l)).filter((m) => m && CONFIG_VARS.includes(m[1])).map((m) => [m![1], m![2]]),
    );
    expect(Object.keys(values).sort()).toEqual(['ASSAY_ALLOWED_HOSTS', 'ASSAY_PUBLIC_URL', 'CLICKHOUSE_DATABASE', 'CLICKHOUSE_PASSWORD', 'CLICKHOUSE_USER']);
    expect(envSchema.safeParse(values).success).toBe(true);
  });
});

/** The text of every `<tag>…</tag>` directly or indirectly inside `xml`, in order (our config files only). */
const elements = (xml: string, tag: string): string[] =>
  [...xml.replace(/<!--[\s\S]*?-->/g, '').matchAll(new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => m[1].trim());

describe('the ClickHouse cluster profile (deploy/clickhouse/)', () => {
  const clusterXml = read('deploy/clickhouse/cluster/cluster.xml');
  const nodes = inProfile('cluster').filter((n) => n.startsWith('ch-'));

  it('remote_servers: the cluster the API names, 2 shards × 2 replicas, each replica a compose service', () => {
    const name = compose.services['api-cluster'].environment!.CLICKHOUSE_CLUSTER;
    expect(name).toBe('assay_cluster');
    const [cluster] = elements(clusterXml, name);
    expect(cluster).toMatch(/<secret from_env="CLICKHOUSE_CLUSTER_SECRET"\/>/);
    const shards = elements(cluster, 'shard').map((s) => ({
      internal: elements(s, 'internal_replication')[0],
      hosts: elements(s, 'replica').map((r) => `${elements(r, 'host')[0]}:${elements(r, 'port')[0]}`),
    }));
    expect(shards).toEqual([
      { internal: 'true', hosts: ['ch-s1r1:9000', 'ch-s1r2:9000'] },
      { internal: 'true', hosts: ['ch-s2r1:9000', 'ch-s2r2:9000'] },
    ]);
    expect(nodes).toEqual(shards.flatMap((s) => s.hosts.map((h) => h.split(':')[0])));
    // replicas fetch parts from each other by hostname: it must be the name the others resolve
    for (const n of nodes) expect(compose.services[n].hostname).toBe(n);
  });

  it('each node mounts its own macros: {shard} matches its shard in remote_servers, {shard}/{replica} distinct', () => {
    const seen = new Set<string>();
    for (const n of nodes) {
      const mount = compose.services[n].volumes!.find((v) => v.endsWith(':/etc/clickhouse-server/config.d/macros.xml:ro'))!;
      expect(mount, n).toBe(`./clickhouse/cluster/macros/${n}.xml:/etc/clickhouse-server/config.d/macros.xml:ro`);
      const macros = read(`deploy/clickhouse/cluster/macros/${n}.xml`);
      const [shard, replica, cluster] = ['shard', 'replica', 'cluster'].map((t) => elements(macros, t)[0]);
      const shardIndex = Number(n.slice(4, 5));
      expect([shard, replica, cluster], n).toEqual([`0${shardIndex}`, n, 'assay_cluster']);
      seen.add(`${shard}/${replica}`);
      expect(compose.services[n].volumes).toContain('./clickhouse/cluster/cluster.xml:/etc/clickhouse-server/config.d/cluster.xml:ro');
    }
    expect(seen.size).toBe(4);
    const migrationsReplicas = new Set([...seen].map((s) => s.replace('/', '-')));
    expect(migrationsReplicas.size, 'the schema-migrations table names its replicas {shard}-{replica}').toBe(4);
  });

  it('three Keeper nodes form one Raft group, and every ClickHouse node knows all three', () => {
    const keepers = inProfile('cluster').filter((n) => n.startsWith('keeper'));
    expect(keepers).toEqual(['keeper1', 'keeper2', 'keeper3']);
    const zk = elements(elements(clusterXml, 'zookeeper')[0], 'node').map((n) => `${elements(n, 'host')[0]}:${elements(n, 'port')[0]}`);
    expect(zk).toEqual(keepers.map((k) => `${k}:9181`));
    const keeperXml = read('deploy/clickhouse/keeper/keeper_config.xml');
    const raft = elements(keeperXml, 'server').map((s) => `${elements(s, 'id')[0]}@${elements(s, 'hostname')[0]}`);
    expect(raft).toEqual(keepers.map((k, i) => `${i + 1}@${k}`));
    expect(keeperXml).toMatch(/<server_id from_env="KEEPER_SERVER_ID"\/>/);
    expect(keepers.map((k) => compose.services[k].environment!.KEEPER_SERVER_ID)).toEqual(['1', '2', '3']);
    expect(elements(keeperXml, 'tcp_port')).toEqual(['9181']);
  });

  it('every ClickHouse node has the backup disk that deploy/README.md backs up to', () => {
    expect(elements(read('deploy/clickhouse/common/backups.xml'), 'allowed_disk')).toEqual(['backups']);
    for (const n of ['clickhouse', ...nodes]) {
      expect(compose.services[n].volumes, n).toContain('./clickhouse/common/backups.xml:/etc/clickhouse-server/config.d/backups.xml:ro');
      expect(compose.services[n].volumes!.some((v) => v.endsWith(':/backups')), n).toBe(true);
    }
  });
});

interface Stage {
  name: string;
  from: string;
  lines: string[];
}

/** FROM … AS name blocks, with line continuations joined and ARG defaults substituted. */
function dockerStages(): Stage[] {
  const text = read('Dockerfile').replace(/\\\n/g, ' ');
  const args = Object.fromEntries([...text.matchAll(/^ARG (\w+)=(\S+)$/gm)].map((m) => [m[1], m[2]]));
  const stages: Stage[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\$\{(\w+)\}/g, (m, a) => args[a] ?? m).trim();
    if (!line || line.startsWith('#')) continue;
    const from = /^FROM (\S+)(?: AS (\S+))?$/i.exec(line);
    if (from) stages.push({ name: from[2] ?? String(stages.length), from: from[1], lines: [] });
    else stages.at(-1)?.lines.push(line);
  }
  return stages;
}

describe('Dockerfile', () => {
  const stages = dockerStages();
  const byName = new Map(stages.map((s) => [s.name, s]));
  /** The stage and the ones it is built FROM, nearest first. */
  const lineage = (s: Stage): Stage[] => (byName.has(s.from) ? [s, ...lineage(byName.get(s.from)!)] : [s]);
  const base = (s: Stage) => lineage(s).at(-1)!.from;
  const last = (s: Stage, instr: string) => lineage(s).flatMap((x) => [...x.lines].reverse()).find((l) => l.startsWith(`${instr} `));
  const runtimes = [byName.get('server')!, stages.at(-1)!];

  it('is multi-stage: the default (last) stage and the compose target both run the API', () => {
    expect(stages.map((s) => s.name)).toEqual(['manifests', 'deps', 'build', 'deps-server', 'server', 'standalone']);
    expect(compose.services.api.build!.target).toBe('server');
  });

  it('runs on a Node LTS >= 22 with glibc (chDB has no musl build)', () => {
    for (const s of stages) {
      const m = /^node:(\d+)-(bookworm|trixie)-slim$/.exec(base(s));
      expect(m, `${s.name}: ${base(s)}`).not.toBeNull();
      expect(Number(m![1]) >= 22 && Number(m![1]) % 2 === 0, base(s)).toBe(true);
    }
  });

  it('the runtime stages run as a non-root user, health-check /readyz, expose 8000 and keep data in a volume', () => {
    for (const s of runtimes) {
      const user = last(s, 'USER');
      expect(user, s.name).toBe('USER assay');
      expect(lineage(s).flatMap((x) => x.lines).some((l) => /useradd --system --uid 10001/.test(l))).toBe(true);
      expect(last(s, 'HEALTHCHECK'), s.name).toMatch(/CMD \["node", "packages\/server\/bin\/healthcheck\.mjs"\]$/);
      expect(last(s, 'EXPOSE')).toBe('EXPOSE 8000');
      expect(last(s, 'VOLUME')).toBe('VOLUME ["/data"]');
      expect(last(s, 'ENTRYPOINT')).toBe('ENTRYPOINT ["node", "packages/server/bin/assay.mjs"]');
      expect(last(s, 'CMD')).toBe('CMD ["serve"]');
    }
    expect(read('packages/server/bin/healthcheck.mjs')).toContain("path: '/readyz'");
    // the compose healthcheck is the image's
    expect(compose.services.api.healthcheck!.test).toEqual(['CMD', 'node', 'packages/server/bin/healthcheck.mjs']);
  });

  it('no devDependency reaches a runtime stage: node_modules come only from the --omit=dev install', () => {
    const deps = byName.get('deps')!;
    expect(deps.lines.find((l) => l.startsWith('RUN npm ci'))).toMatch(/^RUN npm ci --omit=dev --ignore-scripts /);
    for (const s of runtimes) {
      const copies = lineage(s).flatMap((x) => x.lines).filter((l) => l.startsWith('COPY --from='));
      const sources = copies.map((l) => /--from=(\S+) (\S+)/.exec(l)!.slice(1).join(' '));
      for (const src of sources) {
        const stage = byName.get(src.split(' ')[0])!;
        const fromDeps = lineage(stage).some((x) => x.name === 'deps');
        // from the build stage (full npm ci) only the web UI's built files, never node_modules
        expect(fromDeps || src === 'build /app/packages/web/dist', `${s.name} copies ${src}`).toBe(true);
      }
      expect(lineage(s).flatMap((x) => x.lines).filter((l) => /^RUN npm (ci|install)/.test(l)), s.name).toEqual([]);
    }
  });

  it('.dockerignore keeps local data, secrets and node_modules out of the build context', () => {
    const ignored = read('.dockerignore').split('\n').filter((l) => l && !l.startsWith('#'));
    for (const p of ['**/node_modules', '**/.assay', '**/.env', '.git']) expect(ignored).toContain(p);
  });
});

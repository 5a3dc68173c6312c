import { MlflowError, requireStorable } from './errors.ts';

/*
 * MLflow's search syntax (search_runs / search_experiments `filter` and `order_by`), parsed by hand
 * into clauses that are evaluated in memory over the searched projects' runs. Why in memory: a run's
 * params and tags live in Postgres (jsonb) and its latest metrics in ClickHouse — one clause list can
 * touch both stores, and no single parameterised query spans them. The runs of the searched projects
 * are read once (Postgres) plus one metric-summary read (ClickHouse) when a clause or the order needs
 * metrics; nothing user-supplied ever becomes SQL text.
 */

export type Entity = 'metric' | 'param' | 'tag' | 'attribute' | 'dataset';
export type Op = '=' | '!=' | '>' | '>=' | '<' | '<=' | 'LIKE' | 'ILIKE' | 'IN' | 'NOT IN' | 'IS NULL' | 'IS NOT NULL';
export interface Clause {
  entity: Entity;
  key: string;
  op: Op;
  /** A number for metric and numeric-attribute comparisons, a list for IN, a string otherwise, null for IS [NOT] NULL. */
  value: string | number | string[] | null;
}
export interface OrderKey {
  entity: Entity;
  key: string;
  asc: boolean;
}

const ENTITY_ALIASES: Record<string, Entity> = {
  metric: 'metric', metrics: 'metric',
  param: 'param', params: 'param', parameter: 'param', parameters: 'param',
  tag: 'tag', tags: 'tag',
  attribute: 'attribute', attributes: 'attribute', attr: 'attribute', run: 'attribute',
  dataset: 'dataset', datasets: 'dataset',
};

type Tok = { t: 'ident' | 'str' | 'num' | 'op' | 'lp' | 'rp' | 'comma' | 'quoted'; v: string; at: number };

const bad = (msg: string) => new MlflowError('INVALID_PARAMETER_VALUE', msg);

function tokenize(s: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (/\s/.test(c)) { i++; continue; }
    const at = i;
    if (c === "'" || c === '"' || c === '`') {
      // a quote doubled or backslash-escaped stands for itself
      let v = '';
      i++;
      for (;;) {
        if (i >= s.length) throw bad(`Invalid filter: unterminated string starting at ${at}`);
        if (s[i] === '\\' && i + 1 < s.length) { v += s[i + 1]; i += 2; continue; }
        if (s[i] === c) {
          if (s[i + 1] === c) { v += c; i += 2; continue; }
          i++;
          break;
        }
        v += s[i++];
      }
      // "x" and `x` may be identifier parts (metrics."my key"); 'x' is always a value
      out.push({ t: c === "'" ? 'str' : 'quoted', v, at });
      continue;
    }
    if (c === '(') { out.push({ t: 'lp', v: c, at }); i++; continue; }
    if (c === ')') { out.push({ t: 'rp', v: c, at }); i++; continue; }
    if (c === ',') { out.push({ t: 'comma', v: c, at }); i++; continue; }
    const op = /^(!=|<>|>=|<=|==|=|>|<)/.exec(s.slice(i));
    if (op) { out.push({ t: 'op', v: op[1] === '<>' ? '!=' : op[1] === '==' ? '=' : op[1], at }); i += op[1].length; continue; }
    const num = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?(?![\w.])/.exec(s.slice(i));
    if (num) { out.push({ t: 'num', v: num[0], at }); i += num[0].length; continue; }
    const id = /^[A-Za-z_][\w.\-/:]*/.exec(s.slice(i));
    if (id) {
      let v = id[0];
      i += v.length;
      // metrics."quoted key" / tags.`quoted key`: the prefix ends with a dot directly before the quote
      if (v.endsWith('.') && (s[i] === '"' || s[i] === '`')) {
        const [q] = tokenize(s.slice(i, closingQuote(s, i) + 1));
        v += '\u0000' + q.v;
        i = closingQuote(s, i) + 1;
      }
      out.push({ t: 'ident', v, at });
      continue;
    }
    throw bad(`Invalid filter: unexpected character '${c}' at ${at}`);
  }
  return out;
}

function closingQuote(s: string, start: number): number {
  const q = s[start];
  for (let i = start + 1; i < s.length; i++) {
    if (s[i] === '\\') { i++; continue; }
    if (s[i] === q) {
      if (s[i + 1] === q) { i++; continue; }
      return i;
    }
  }
  throw bad(`Invalid filter: unterminated string starting at ${start}`);
}

/** `metrics.loss`, `params."a b"`, `attributes.status`, or a bare attribute name. */
function identifier(tok: Tok, next: Tok | undefined, defaultEntity: Entity): { entity: Entity; key: string; used: number } {
  if (tok.t === 'quoted') return { entity: defaultEntity, key: tok.v, used: 1 };
  if (tok.t !== 'ident') throw bad(`Invalid filter: expected an identifier at ${tok.at}, got '${tok.v}'`);
  const quotedKey = tok.v.indexOf('\u0000');
  if (quotedKey >= 0) {
    const prefix = tok.v.slice(0, quotedKey - 1);
    const entity = ENTITY_ALIASES[prefix.toLowerCase()];
    if (!entity) throw bad(`Invalid entity type '${prefix}'. Valid values are metrics, params, tags, attributes, datasets`);
    return { entity, key: tok.v.slice(quotedKey + 1), used: 1 };
  }
  const dot = tok.v.indexOf('.');
  if (dot < 0) return { entity: defaultEntity, key: tok.v, used: 1 };
  const prefix = tok.v.slice(0, dot);
  const entity = ENTITY_ALIASES[prefix.toLowerCase()];
  if (!entity) {
    if (defaultEntity === 'attribute') throw bad(`Invalid entity type '${prefix}'. Valid values are metrics, params, tags, attributes, datasets`);
    return { entity: defaultEntity, key: tok.v, used: 1 };
  }
  const key = tok.v.slice(dot + 1);
  if (!key) throw bad(`Invalid filter: '${tok.v}' has no key`);
  void next;
  return { entity, key, used: 1 };
}

const NUMERIC_ATTRS = new Set(['start_time', 'end_time', 'created', 'creation_time', 'last_update_time']);

/** `clause AND clause AND …` → clauses. OR and parentheses are not MLflow syntax either. */
export function parseFilter(filter: string | undefined | null, defaultEntity: Entity = 'attribute'): Clause[] {
  if (!filter || !filter.trim()) return [];
  // a NUL in a value would reach PostgreSQL through the param/tag pre-filter (a 500, not a 400)
  requireStorable('filter', filter);
  const toks = tokenize(filter);
  const out: Clause[] = [];
  let i = 0;
  const peek = () => toks[i];
  const word = (w: string) => peek()?.t === 'ident' && peek().v.toUpperCase() === w;
  while (i < toks.length) {
    const id = identifier(toks[i], toks[i + 1], defaultEntity);
    i += id.used;
    let op: Op;
    if (peek()?.t === 'op') op = toks[i++].v as Op;
    else if (word('LIKE') || word('ILIKE')) op = toks[i++].v.toUpperCase() as Op;
    else if (word('IN')) { i++; op = 'IN'; }
    else if (word('NOT') && toks[i + 1]?.t === 'ident' && toks[i + 1].v.toUpperCase() === 'IN') { i += 2; op = 'NOT IN'; }
    else if (word('IS')) {
      i++;
      if (word('NOT')) { i++; op = 'IS NOT NULL'; } else op = 'IS NULL';
      if (!word('NULL')) throw bad(`Invalid filter: expected NULL after IS at ${peek()?.at ?? filter.length}`);
      i++;
    } else throw bad(`Invalid filter: expected a comparator after '${id.key}' at ${peek()?.at ?? filter.length}`);

    if (id.entity === 'metric' && !['=', '!=', '>', '>=', '<', '<='].includes(op)) throw bad(`Invalid comparator '${op}' for a metric`);
    let value: Clause['value'] = null;
    if (op === 'IN' || op === 'NOT IN') {
      if (peek()?.t !== 'lp') throw bad(`Invalid filter: expected '(' after ${op}`);
      i++;
      const list: string[] = [];
      for (;;) {
        const t = toks[i++];
        if (!t || (t.t !== 'str' && t.t !== 'quoted' && t.t !== 'num')) throw bad(`Invalid filter: expected a value in the ${op} list`);
        list.push(t.v);
        const sep = toks[i++];
        if (sep?.t === 'rp') break;
        if (sep?.t !== 'comma') throw bad(`Invalid filter: expected ',' or ')' in the ${op} list`);
      }
      value = list;
    } else if (op !== 'IS NULL' && op !== 'IS NOT NULL') {
      const t = toks[i++];
      if (!t || (t.t !== 'str' && t.t !== 'quoted' && t.t !== 'num')) throw bad(`Invalid filter: expected a value after '${id.key} ${op}'`);
      const numeric = id.entity === 'metric' || (id.entity === 'attribute' && NUMERIC_ATTRS.has(id.key));
      if (numeric) {
        if (t.t !== 'num') throw bad(`Expected numeric value type for metric or numeric attribute '${id.key}', got '${t.v}'`);
        value = Number(t.v);
      } else {
        if (t.t === 'num') throw bad(`Expected a quoted string value for ${id.entity} '${id.key}', got ${t.v}`);
        value = t.v;
      }
    }
    out.push({ entity: id.entity, key: id.key, op, value });
    if (i < toks.length) {
      if (!word('AND')) throw bad(`Invalid filter: expected AND at ${peek().at} (only AND joins clauses)`);
      i++;
      if (i >= toks.length) throw bad('Invalid filter: nothing after AND');
    }
  }
  return out;
}

/** `metrics.loss DESC`, `attributes.start_time`, `params.lr ASC` … */
export function parseOrderBy(orderBy: string[] | undefined, defaultEntity: Entity = 'attribute'): OrderKey[] {
  return (orderBy ?? []).map((raw) => {
    requireStorable('order_by', raw);
    const toks = tokenize(raw);
    if (!toks.length) throw bad(`Invalid order_by clause '${raw}'`);
    const id = identifier(toks[0], toks[1], defaultEntity);
    let asc = true;
    const dir = toks[id.used];
    if (dir) {
      if (dir.t !== 'ident' || !['ASC', 'DESC'].includes(dir.v.toUpperCase()) || toks.length > id.used + 1) throw bad(`Invalid order_by clause '${raw}'`);
      asc = dir.v.toUpperCase() === 'ASC';
    }
    return { entity: id.entity, key: id.key, asc };
  });
}

type LikeToken = { any: true } | { any: false; one: boolean; ch: string };

/**
 * SQL LIKE with % and _ (backslash escapes), anchored, over code points: a two-pointer matcher that
 * goes back only to the last %, so O(pattern × value) at worst. (A RegExp of `%a%a%b` backtracks
 * polynomially: one search over a 6,000-character param held the event loop for 78 s.)
 */
export function likeMatches(pattern: string, value: string, caseInsensitive: boolean): boolean {
  const fold = (c: string) => (caseInsensitive ? c.toLowerCase() : c);
  const pat: LikeToken[] = [];
  const chars = Array.from(pattern);
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    if (c === '\\' && i + 1 < chars.length) pat.push({ any: false, one: false, ch: fold(chars[++i]) });
    else if (c === '%') pat.push({ any: true });
    else pat.push({ any: false, one: c === '_', ch: fold(c) });
  }
  const val = Array.from(value, fold);
  let p = 0;
  let v = 0;
  let star = -1;
  let starV = 0;
  while (v < val.length) {
    const t = pat[p];
    if (t && !t.any && (t.one || t.ch === val[v])) {
      p++;
      v++;
    } else if (t?.any) {
      star = p++;
      starV = v;
    } else if (star >= 0) {
      p = star + 1;
      v = ++starV;
    } else return false;
  }
  while (pat[p]?.any) p++;
  return p === pat.length;
}

/** One clause against a looked-up value (undefined: the run has no such key — it never matches but IS NULL). */
export function test(c: Clause, actual: string | number | undefined): boolean {
  if (c.op === 'IS NULL') return actual === undefined;
  if (c.op === 'IS NOT NULL') return actual !== undefined;
  if (actual === undefined) return false;
  const v = c.value;
  switch (c.op) {
    case 'IN': return (v as string[]).includes(String(actual));
    case 'NOT IN': return !(v as string[]).includes(String(actual));
    case 'LIKE': return likeMatches(String(v), String(actual), false);
    case 'ILIKE': return likeMatches(String(v), String(actual), true);
  }
  const [a, b] = typeof v === 'number' ? [Number(actual), v] : [String(actual), String(v)];
  if (typeof a === 'number' && Number.isNaN(a)) return c.op === '!=';
  switch (c.op) {
    case '=': return a === b;
    case '!=': return a !== b;
    case '>': return a > b;
    case '>=': return a >= b;
    case '<': return a < b;
    case '<=': return a <= b;
  }
  return false;
}

/** Compares two looked-up sort values; a missing value sorts last in either direction (as MLflow's SQL store does). */
export function compareValues(a: string | number | undefined, b: string | number | undefined, asc: boolean): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? 1 : -1;
  const an = typeof a === 'number' && Number.isNaN(a);
  const bn = typeof b === 'number' && Number.isNaN(b);
  if (an || bn) return an === bn ? 0 : an ? 1 : -1;
  const r = a < b ? -1 : a > b ? 1 : 0;
  return asc ? r : -r;
}

/**
 * Derived-metric expressions: a hand-written recursive-descent parser from text to an AST. Pure (no
 * I/O); the SQL is rendered from the AST by stores/clickhouse/queries/derived.ts, never from text.
 *
 *   expr    := term (('+' | '-') term)*
 *   term    := unary (('*' | '/') unary)*
 *   unary   := '-' unary | primary
 *   primary := number | name | func '(' expr (',' expr)* ')' | '(' expr ')'
 *   name    := [A-Za-z_][A-Za-z0-9_.]*  |  '`' (any character but '`' and NUL | '``')+ '`'
 *   number  := digits ['.' digits] [('e' | 'E') ['+' | '-'] digits]  |  '.' digits [...]
 *   func    := abs | log | exp | sqrt (one argument) | min | max (two or more)
 *
 * Inside backticks a backtick is written twice (`a``b` is the metric a`b). A plain identifier
 * followed by '(' is a function call; a metric called `log` is written with backticks.
 */

export type BinaryOp = '+' | '-' | '*' | '/';
export type FunctionName = 'abs' | 'log' | 'exp' | 'sqrt' | 'min' | 'max';

export type Expr =
  | { kind: 'number'; value: number }
  | { kind: 'metric'; name: string }
  | { kind: 'negate'; arg: Expr }
  | { kind: 'binary'; op: BinaryOp; left: Expr; right: Expr }
  | { kind: 'call'; fn: FunctionName; args: Expr[] };

export const EXPRESSION_LIMITS = { maxLength: 1000, maxNodes: 200, maxDepth: 32, metricNameMax: 250 } as const;

const FUNCTIONS: Record<FunctionName, { min: number; max: number }> = {
  abs: { min: 1, max: 1 },
  log: { min: 1, max: 1 },
  exp: { min: 1, max: 1 },
  sqrt: { min: 1, max: 1 },
  min: { min: 2, max: Infinity },
  max: { min: 2, max: Infinity },
};
const isFunction = (s: string): s is FunctionName => Object.hasOwn(FUNCTIONS, s);

/** A syntax or limit error at a 1-based character position of the input. */
export class ExpressionError extends Error {
  constructor(
    readonly position: number,
    readonly reason: string,
  ) {
    super(`position ${position}: ${reason}`);
  }
}

type Token =
  | { t: 'num'; value: number; pos: number; text: string }
  | { t: 'ident'; name: string; pos: number }
  | { t: 'quoted'; name: string; pos: number }
  | { t: 'op'; op: '+' | '-' | '*' | '/' | '(' | ')' | ','; pos: number }
  | { t: 'end'; pos: number };

const IDENT_START = /[A-Za-z_]/;
const IDENT_PART = /[A-Za-z0-9_.]/;
const DIGIT = /[0-9]/;
const NUMBER_RE = /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/;

const show = (tok: Token): string => {
  switch (tok.t) {
    case 'num':
      return `number ${tok.text}`;
    case 'ident':
      return `"${tok.name}"`;
    case 'quoted':
      return `quoted name \`${tok.name}\``;
    case 'op':
      return `'${tok.op}'`;
    case 'end':
      return 'the end of the expression';
  }
};

// Lazy, so errors surface in reading order: `1); x` fails at the ')' before the lexer sees ';'.
function* tokenize(src: string): Generator<Token, Token> {
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    const pos = i + 1;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (c === '\u0000') {
      throw new ExpressionError(pos, 'NUL characters are not allowed');
    } else if ('+-*/(),'.includes(c)) {
      yield { t: 'op', op: c as '+', pos };
      i++;
    } else if (DIGIT.test(c) || (c === '.' && DIGIT.test(src[i + 1] ?? ''))) {
      const text = NUMBER_RE.exec(src.slice(i))![0];
      const value = Number(text);
      if (!Number.isFinite(value)) throw new ExpressionError(pos, `number ${text} is out of range`);
      yield { t: 'num', value, pos, text };
      i += text.length;
      // "2x" or "1e" followed by letters: refuse rather than guess a multiplication
      if (i < src.length && (IDENT_PART.test(src[i]) || src[i] === '`')) throw new ExpressionError(i + 1, `expected an operator or ')' after number ${text}, found "${src[i]}"`);
    } else if (IDENT_START.test(c)) {
      let j = i + 1;
      while (j < src.length && IDENT_PART.test(src[j])) j++;
      yield { t: 'ident', name: src.slice(i, j), pos };
      i = j;
    } else if (c === '`') {
      let name = '';
      let j = i + 1;
      for (;;) {
        if (j >= src.length) throw new ExpressionError(pos, 'unterminated quoted name: expected a closing backtick (write a backtick inside a name as ``)');
        const ch = src[j];
        if (ch === '\u0000') throw new ExpressionError(j + 1, 'NUL characters are not allowed');
        if (ch === '`') {
          if (src[j + 1] === '`') {
            name += '`';
            j += 2;
            continue;
          }
          break;
        }
        name += ch;
        j++;
      }
      if (name.length === 0) throw new ExpressionError(pos, 'empty quoted name');
      if ([...name].length > EXPRESSION_LIMITS.metricNameMax) throw new ExpressionError(pos, `metric name longer than ${EXPRESSION_LIMITS.metricNameMax} characters`);
      yield { t: 'quoted', name, pos };
      i = j + 1;
    } else {
      throw new ExpressionError(pos, `unexpected character "${c}"; metric names other than plain identifiers go in backticks`);
    }
  }
  return { t: 'end', pos: src.length + 1 };
}

class Parser {
  private nodes = 0;
  private cur: Token;
  constructor(private readonly toks: Generator<Token, Token>) {
    this.cur = toks.next().value;
  }

  private peek(): Token {
    return this.cur;
  }
  private take(): Token {
    const t = this.cur;
    if (t.t !== 'end') this.cur = this.toks.next().value;
    return t;
  }
  private isOp(op: string): boolean {
    const t = this.peek();
    return t.t === 'op' && t.op === op;
  }
  private node<T extends Expr>(e: T, pos: number): T {
    if (++this.nodes > EXPRESSION_LIMITS.maxNodes) throw new ExpressionError(pos, `expression too large (more than ${EXPRESSION_LIMITS.maxNodes} nodes)`);
    return e;
  }
  private enter(depth: number, pos: number): number {
    if (depth >= EXPRESSION_LIMITS.maxDepth) throw new ExpressionError(pos, `expression nested too deeply (more than ${EXPRESSION_LIMITS.maxDepth} levels)`);
    return depth + 1;
  }

  parse(): Expr {
    const e = this.expr(0);
    const t = this.peek();
    if (t.t !== 'end') throw new ExpressionError(t.pos, `expected an operator or the end of the expression, found ${show(t)}`);
    return e;
  }

  private expr(depth: number): Expr {
    let left = this.term(depth);
    while (this.isOp('+') || this.isOp('-')) {
      const t = this.take() as { op: BinaryOp; pos: number };
      left = this.node({ kind: 'binary', op: t.op, left, right: this.term(depth) }, t.pos);
    }
    return left;
  }

  private term(depth: number): Expr {
    let left = this.unary(depth);
    while (this.isOp('*') || this.isOp('/')) {
      const t = this.take() as { op: BinaryOp; pos: number };
      left = this.node({ kind: 'binary', op: t.op, left, right: this.unary(depth) }, t.pos);
    }
    return left;
  }

  private unary(depth: number): Expr {
    const t = this.peek();
    if (this.isOp('-')) {
      this.take();
      const d = this.enter(depth, t.pos);
      return this.node({ kind: 'negate', arg: this.unary(d) }, t.pos);
    }
    return this.primary(depth);
  }

  private primary(depth: number): Expr {
    const t = this.take();
    if (t.t === 'num') return this.node({ kind: 'number', value: t.value }, t.pos);
    if (t.t === 'quoted') return this.node({ kind: 'metric', name: t.name }, t.pos);
    if (t.t === 'ident') {
      if (!this.isOp('(')) return this.node({ kind: 'metric', name: t.name }, t.pos);
      if (!isFunction(t.name)) throw new ExpressionError(t.pos, `unknown function "${t.name}"; expected one of ${Object.keys(FUNCTIONS).join(', ')}`);
      const d = this.enter(depth, t.pos);
      this.take();
      const args = [this.expr(d)];
      while (this.isOp(',')) {
        this.take();
        args.push(this.expr(d));
      }
      this.expect(')', `',' or ')' to close the arguments of ${t.name}`);
      const { min, max } = FUNCTIONS[t.name];
      if (args.length < min || args.length > max) {
        const want = min === max ? `exactly ${min} argument${min > 1 ? 's' : ''}` : `at least ${min} arguments`;
        throw new ExpressionError(t.pos, `${t.name} takes ${want}, got ${args.length}`);
      }
      return this.node({ kind: 'call', fn: t.name, args }, t.pos);
    }
    if (t.t === 'op' && t.op === '(') {
      const e = this.expr(this.enter(depth, t.pos));
      this.expect(')', "')'");
      return e;
    }
    throw new ExpressionError(t.pos, `expected a number, a metric name, a function call or '(', found ${show(t)}`);
  }

  private expect(op: string, what: string): void {
    const t = this.peek();
    if (!this.isOp(op)) throw new ExpressionError(t.pos, `expected ${what}, found ${show(t)}`);
    this.take();
  }
}

/** Text → AST; throws ExpressionError (position + what was expected) on anything else. */
export function parseExpression(src: string): Expr {
  if (src.length > EXPRESSION_LIMITS.maxLength) throw new ExpressionError(EXPRESSION_LIMITS.maxLength + 1, `expression longer than ${EXPRESSION_LIMITS.maxLength} characters`);
  if (src.trim() === '') throw new ExpressionError(1, 'expected an expression, found nothing');
  return new Parser(tokenize(src)).parse();
}

/** The distinct metric names an expression reads, in order of first appearance. */
export function metricRefs(e: Expr, out: string[] = []): string[] {
  switch (e.kind) {
    case 'metric':
      if (!out.includes(e.name)) out.push(e.name);
      break;
    case 'negate':
      metricRefs(e.arg, out);
      break;
    case 'binary':
      metricRefs(e.left, out);
      metricRefs(e.right, out);
      break;
    case 'call':
      for (const a of e.args) metricRefs(a, out);
      break;
    case 'number':
      break;
  }
  return out;
}

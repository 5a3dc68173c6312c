#!/usr/bin/env node
/**
 * Builds @assay/sdk into dist/: ESM JavaScript (esbuild) and .d.ts (the TypeScript compiler API).
 *
 *   node packages/sdk/scripts/build.mjs        (npm run build -w packages/sdk; runs on `npm ci`)
 *
 * JavaScript: one esbuild pass over the three entry points (index, client, cli) with code
 * splitting, so the browser-safe read client and the Node entry share chunks instead of copies.
 * `@assay/contracts/limits` (dependency-free) is bundled in; anything that would pull zod or the
 * contracts' schema module into the JavaScript fails the build — the SDK has no runtime dependencies.
 *
 * Declarations: tsc's emitter, per source file. Two rewrites make them self-contained for a
 * consumer that has neither zod nor @assay/contracts: `wire.d.ts` (the wire types, `z.infer` of
 * the contract schemas in the source) is replaced by the expanded object types the checker
 * computes, and `limits.d.ts` by the declarations of contracts' limits module. The build fails if
 * any .d.ts still mentions zod or @assay/contracts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import ts from 'typescript';

const PKG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SRC = path.join(PKG, 'src');
const DIST = path.join(PKG, 'dist');
const ENTRIES = ['index', 'client', 'cli'];

/** Refuse anything in the runtime bundle but our source and the dependency-free limits module. */
const noRuntimeDeps = {
  name: 'no-runtime-deps',
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:') || args.path === '@assay/contracts/limits') return undefined;
      return { errors: [{ text: `@assay/sdk must not depend on ${JSON.stringify(args.path)} at runtime (imported by ${args.importer})` }] };
    });
  },
};

async function buildJs() {
  const result = await esbuild.build({
    entryPoints: Object.fromEntries(ENTRIES.map((e) => [e, path.join(SRC, `${e}.ts`)])),
    outdir: DIST,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    chunkNames: 'chunks/[name]-[hash]',
    metafile: true,
    logLevel: 'warning',
    plugins: [noRuntimeDeps],
  });
  fs.chmodSync(path.join(DIST, 'cli.js'), 0o755);
  return result.metafile;
}

const PRINT_FLAGS = ts.NodeBuilderFlags.NoTruncation | ts.NodeBuilderFlags.InTypeAlias | ts.NodeBuilderFlags.MultilineObjectLiterals;

/** `export type X = …` for every exported type alias of `sf`, with the alias bodies expanded. */
function expandedAliases(checker, sf) {
  const printer = ts.createPrinter({ newLine: ts.NewLineKind.LineFeed });
  const out = ['/** Wire types of the Assay API, generated from @assay/contracts (packages/contracts/src/index.ts) at build time. */'];
  for (const sym of checker.getExportsOfModule(checker.getSymbolAtLocation(sf))) {
    const decl = sym.declarations?.[0];
    if (!decl || !ts.isTypeAliasDeclaration(decl)) continue;
    const params = decl.typeParameters ? `<${decl.typeParameters.map((p) => p.getText(sf)).join(', ')}>` : '';
    const node = checker.typeToTypeNode(checker.getTypeAtLocation(decl.name), decl, PRINT_FLAGS);
    const doc = ts.getJSDocCommentsAndTags(decl).map((d) => d.getText(sf)).join('\n');
    out.push(`${doc ? doc + '\n' : ''}export type ${sym.name}${params} = ${printer.printNode(ts.EmitHint.Unspecified, node, sf)};`);
  }
  return out.join('\n') + '\n';
}

function buildDts() {
  const cfg = ts.getParsedCommandLineOfConfigFile(path.join(PKG, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
  const roots = fs.readdirSync(SRC).filter((f) => f.endsWith('.ts')).map((f) => path.join(SRC, f));
  const options = { ...cfg.options, noEmit: false, declaration: true, emitDeclarationOnly: true, rewriteRelativeImportExtensions: true, outDir: DIST, rootDir: SRC };
  const program = ts.createProgram(roots, options);
  const diagnostics = ts.getPreEmitDiagnostics(program).filter((d) => d.file?.fileName.startsWith(SRC) ?? true);
  if (diagnostics.length) {
    const host = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => PKG, getNewLine: () => '\n' };
    throw new Error(ts.formatDiagnosticsWithColorAndContext(diagnostics, host));
  }
  const checker = program.getTypeChecker();
  const limitsSrc = fileURLToPath(import.meta.resolve('@assay/contracts/limits'));
  const files = new Map();
  const write = (file) => (_name, text) => files.set(file, text);
  for (const f of roots) {
    const name = path.basename(f, '.ts');
    const sf = program.getSourceFile(f);
    if (name === 'wire') files.set('wire.d.ts', expandedAliases(checker, sf));
    else if (name !== 'limits') program.emit(sf, write(`${name}.d.ts`), undefined, true);
  }
  // limits.d.ts: the declarations of the contract module it re-exports (a program of its own: it lives outside src/)
  const limits = ts.createProgram([limitsSrc], { ...options, rootDir: path.dirname(limitsSrc) });
  const emitted = limits.emit(limits.getSourceFile(limitsSrc), write('limits.d.ts'), undefined, true);
  if (emitted.emitSkipped || !files.has('limits.d.ts')) throw new Error(`could not emit declarations for ${limitsSrc}`);
  for (const [file, text] of files) {
    const fixed = text.replace(/(from\s+|import\()(['"])(\.\.?\/[^'"]+)\.ts\2/g, '$1$2$3.js$2');
    if (/['"](zod|@assay\/contracts)(\/[^'"]*)?['"]/.test(fixed)) throw new Error(`dist/${file} still refers to zod or @assay/contracts`);
    fs.writeFileSync(path.join(DIST, file), fixed);
  }
  return files.size;
}

const t0 = Date.now();
fs.rmSync(DIST, { recursive: true, force: true });
const meta = await buildJs();
const dts = buildDts();
const js = Object.entries(meta.outputs).filter(([f]) => f.endsWith('.js'));
const bytes = js.reduce((n, [, o]) => n + o.bytes, 0);
process.stdout.write(`@assay/sdk: dist/ (${js.length} .js, ${bytes} bytes; ${dts} .d.ts) in ${Date.now() - t0} ms\n`);

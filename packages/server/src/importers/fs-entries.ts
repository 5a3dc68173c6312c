import fs from 'node:fs';

/*
 * Directory listings for the importers. Linux file names are bytes: a name that is not UTF-8 read
 * through the default string API comes back with U+FFFD in it, and that path names no file (ENOENT
 * when it is opened). The listing is read as bytes; such an entry keeps its exact bytes as the path
 * and shows the U+FFFD text as its name. Symlinks are not followed (a loop cannot hang a walk).
 */

export type SourcePath = string | Buffer;

export interface Entry {
  /** The name as text (U+FFFD where the bytes are not UTF-8). */
  name: string;
  path: SourcePath;
  dir: boolean;
  file: boolean;
  /** The name's bytes are not UTF-8. */
  mangled: boolean;
}

const asBytes = (p: SourcePath) => (typeof p === 'string' ? Buffer.from(p) : p);

/** A path's text, for names and messages. */
export const pathText = (p: SourcePath): string => (typeof p === 'string' ? p : p.toString('utf8'));

/** The entries of dir, sorted by name. */
export function entries(dir: SourcePath): Entry[] {
  return fs
    .readdirSync(dir, { withFileTypes: true, encoding: 'buffer' })
    .map((e) => {
      const name = e.name.toString('utf8');
      const mangled = !Buffer.from(name).equals(e.name);
      const path = mangled || typeof dir !== 'string' ? Buffer.concat([asBytes(dir), Buffer.from('/'), e.name]) : `${dir}/${name}`;
      return { name, path, dir: e.isDirectory(), file: e.isFile(), mangled };
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}


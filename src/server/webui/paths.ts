// The Board reads and writes only under its root. A user's path is resolved against the root, then every symlink on
// it is followed (the part that exists yet); the result must still lie under the root's own real path. A path that
// escapes by `..` or by a link pointing outside is refused before anything is read or written.
import { lstatSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { HttpError } from './http-error.js';

export class RootedPaths {
  readonly root: string; // real path of --root

  constructor(root: string) {
    this.root = realpathSync(resolve(root));
  }

  // The real absolute path of `userPath`; 403 when it lies outside the root.
  resolve(userPath: string, what = 'path'): string {
    if (typeof userPath !== 'string' || userPath === '' || userPath.includes('\0')) {
      throw new HttpError(400, `${what}: expected a path under the root`);
    }
    const real = realOf(resolve(this.root, userPath));
    if (!this.inside(real)) {
      throw new HttpError(403, `${what} ${userPath}: outside the root folder ${this.root}; the Board only reads and writes under --root`);
    }
    return real;
  }

  inside(real: string): boolean {
    const rel = relative(this.root, real);
    return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
  }

  // `abs` as the page shows it: relative to the root, '/'-separated, '.' for the root.
  show(abs: string): string {
    const rel = relative(this.root, abs);
    return rel === '' ? '.' : rel.split(sep).join('/');
  }
}

// The real path of `abs`: symlinks followed on the longest existing prefix, the rest (not yet created) appended. A
// link whose target is missing counts as existing, so a write can never go through it to wherever it points.
function realOf(abs: string): string {
  let head = abs;
  const tail: string[] = [];
  while (lstatSync(head, { throwIfNoEntry: false }) === undefined) {
    const parent = dirname(head);
    if (parent === head) break;
    tail.unshift(basename(head));
    head = parent;
  }
  try {
    return join(realpathSync(head), ...tail);
  } catch {
    throw new HttpError(403, `${head}: a symbolic link to nothing; the Board does not follow it`);
  }
}

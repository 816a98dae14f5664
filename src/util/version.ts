// The package version, read from package.json so it cannot drift from what npm installed.
import { readFileSync } from 'node:fs';

export function retuneVersion(): string {
  // Compiled to dist/src/util/, three levels below the package root.
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

// `retune version`; the version itself is read in src/util/version.ts, which the server layer uses too.
import { retuneVersion } from '../util/version.js';

export { retuneVersion };

export async function runVersion(): Promise<number> {
  process.stdout.write(`retune ${retuneVersion()}\n`);
  return 0;
}

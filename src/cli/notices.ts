// What a command says on stderr about a loaded config before it starts: keys it ignores and keys that do nothing
// here, each named once.
import { suggestKey, type LoadedConfig } from '../config/load.js';

export function printConfigNotices(loaded: LoadedConfig): void {
  if (loaded.unknownKeys.length > 0) {
    const named = loaded.unknownKeys.map((key) => {
      const hint = suggestKey(key);
      return hint === null ? key : `${key} (did you mean ${hint}?)`;
    });
    process.stderr.write(`retune: warning: ${loaded.source}: unknown keys ignored: ${named.join(', ')}\n`);
  }
  if (loaded.ineffectiveKeys.length > 0) {
    process.stderr.write(`retune: notice: accepted but no effect on this engine: ${loaded.ineffectiveKeys.join(', ')}\n`);
  }
  for (const notice of loaded.notices) process.stderr.write(`retune: notice: ${notice}\n`);
}

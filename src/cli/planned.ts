// Commands LLaMA-Factory users will look for that Retune does not have yet: they say so plainly and exit 2 rather
// than pretend.
import { UsageError } from '../util/errors.js';

export function plannedCommand(name: string, what: string): () => Promise<number> {
  return async () => {
    throw new UsageError(`${name}: the ${what} is not available yet; use retune train / chat / export with a YAML config`);
  };
}

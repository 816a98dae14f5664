// The `threads` key sizes the native backend's thread pool. The pool reads RETUNE_THREADS when the addon first loads,
// so a command applies the key before it touches the engine; a non-zero key wins over the environment.
import type { RetuneConfig } from '../config/schema.js';

export function applyThreads(config: RetuneConfig): void {
  if (config.threads > 0) process.env.RETUNE_THREADS = String(config.threads);
}

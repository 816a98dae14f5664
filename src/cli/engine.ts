// Sets the compute engine up as the config asks, before a command loads anything: `threads` sizes the native
// backend's pool, which reads RETUNE_THREADS when the addon first loads (a non-zero key wins over the environment),
// and choosing the backend now puts its notices, if any, before the command's own output.
import { getBackend } from '../backend/index.js';
import type { RetuneConfig } from '../config/schema.js';

export function startEngine(config: RetuneConfig): void {
  if (config.threads > 0) process.env.RETUNE_THREADS = String(config.threads);
  getBackend();
}

// Shared by the config tests.
import assert from 'node:assert/strict';
import { UsageError } from '../../src/util/errors.js';

// The message of the UsageError that fn throws; fails the test when fn throws anything else or nothing.
export function usageMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof UsageError, `expected a UsageError, got ${String(err)}`);
    return err.message;
  }
  assert.fail('expected a UsageError');
}

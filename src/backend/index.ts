// Picks the backend once per process: RETUNE_BACKEND=reference|native, else native when the addon loads and the
// reference backend otherwise (with one notice on stderr, since training will then be much slower).
import { RetuneError, UsageError } from '../util/errors.js';
import type { Backend } from './backend.js';
import { referenceBackend } from './reference.js';

type NativeModule = { loadNativeBackend(): Backend | null };

// The native loader is optional at build time (a checkout without it still runs), so it is imported by a
// computed specifier that the compiler does not resolve.
const nativeSpecifier = './native.js';
const nativeModule: NativeModule | null = await import(nativeSpecifier).then(
  (m: NativeModule) => m,
  (err: NodeJS.ErrnoException) => {
    if (err.code === 'ERR_MODULE_NOT_FOUND') return null;
    throw err;
  },
);

let current: Backend | null = null;

function loadNative(): Backend | null {
  return nativeModule === null ? null : nativeModule.loadNativeBackend();
}

function choose(): Backend {
  const wanted = process.env.RETUNE_BACKEND;
  if (wanted === 'reference') return referenceBackend;
  if (wanted === 'native') {
    const native = loadNative();
    if (native === null) throw new RetuneError('RETUNE_BACKEND=native but the native addon did not load (run `npm ci` to build it)');
    return native;
  }
  if (wanted !== undefined && wanted !== '') {
    throw new UsageError(`RETUNE_BACKEND must be 'reference' or 'native', got '${wanted}'`);
  }
  const native = loadNative();
  if (native !== null) return native;
  if (nativeModule !== null) process.stderr.write('retune: native addon not available; using reference backend (slow)\n');
  return referenceBackend;
}

export function getBackend(): Backend {
  if (current === null) current = choose();
  return current;
}

// For tests that run both backends; 'native' throws when the addon is not built.
export function setBackend(name: 'reference' | 'native'): Backend {
  if (name === 'reference') current = referenceBackend;
  else {
    const native = loadNative();
    if (native === null) throw new RetuneError('setBackend(native): the native addon did not load');
    current = native;
  }
  return current;
}

export function nativeAvailable(): boolean {
  return loadNative() !== null;
}

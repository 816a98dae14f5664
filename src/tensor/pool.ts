// Reuse of activation buffers across training steps. Ops that record on the tape take their outputs, saved
// intermediates and gradients from here; clearing the tape gives them back. Sizes are rounded up to classes with
// three mantissa bits (at most 12.5% waste), so batches whose T differs slightly still share buffers.
import { RetuneError } from '../util/errors.js';

const free = new Map<number, Float32Array[]>(); // size class -> whole buffers ready for reuse
const inPool = new WeakSet<ArrayBuffer>();
let freeBytes = 0;
let liveBytes = 0; // handed out and not yet released
let peakLiveBytes = 0;
let allocatedBytes = 0; // ever allocated by the pool: flat in steady state

export function sizeClass(n: number): number {
  if (n <= 16) return 16;
  const shift = Math.max(0, Math.floor(Math.log2(n)) - 3);
  const step = 2 ** shift;
  return Math.ceil(n / step) * step;
}

// A buffer of exactly n elements (a view on a size-class buffer); contents are whatever the last user left.
export function acquire(n: number): Float32Array {
  const cls = sizeClass(n);
  const list = free.get(cls);
  let whole = list?.pop();
  if (whole !== undefined) {
    inPool.delete(whole.buffer as ArrayBuffer);
    freeBytes -= cls * 4;
  } else {
    whole = new Float32Array(cls);
    allocatedBytes += cls * 4;
  }
  liveBytes += cls * 4;
  peakLiveBytes = Math.max(peakLiveBytes, liveBytes);
  return whole.subarray(0, n);
}

export function acquireZeroed(n: number): Float32Array {
  const buf = acquire(n);
  buf.fill(0);
  return buf;
}

export function release(buf: Float32Array): void {
  const whole = new Float32Array(buf.buffer as ArrayBuffer);
  const cls = whole.length;
  if (inPool.has(whole.buffer as ArrayBuffer)) throw new RetuneError('pool: buffer released twice');
  liveBytes -= cls * 4;
  // Keeping more than twice the peak working set only hoards memory for sizes that will not come back.
  if (freeBytes + cls * 4 > 2 * peakLiveBytes) return;
  inPool.add(whole.buffer as ArrayBuffer);
  freeBytes += cls * 4;
  let list = free.get(cls);
  if (list === undefined) free.set(cls, (list = []));
  list.push(whole);
}

// Overwrites every idle buffer, e.g. with NaN, so a test can prove that no kernel reads an output before writing it.
export function fillFree(value: number): void {
  for (const list of free.values()) for (const buf of list) buf.fill(value);
}

export function poolStats(): { allocatedBytes: number; liveBytes: number; freeBytes: number } {
  return { allocatedBytes, liveBytes, freeBytes };
}

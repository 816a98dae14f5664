// Rows -> one right-padded batch. T is the longest row (at least padTo), rounded up to a multiple of 8; pads get
// padId as input and -100 as label. When any row is packed, every row carries positions and segments (pads: position
// 0, segment 0, so they never share a segment with real tokens).

import { UsageError } from '../util/errors.js';
import { IGNORE_INDEX } from './processors.js';
import type { TokenizedRow } from './dataset-store.js';

export interface Batch {
  ids: Int32Array; // (B, T)
  labels: Int32Array; // (B, T)
  B: number;
  T: number;
  positions: Int32Array | null; // (B, T), packed batches only
  segments: Int32Array | null; // (B, T), packed batches only
  tokens: number; // non-pad tokens
}

export interface CollateOptions {
  padId: number;
  padTo?: number; // pad to at least this length (then to a multiple of 8)
}

const MULTIPLE = 8;

export function collate(rows: TokenizedRow[], opts: CollateOptions): Batch {
  if (rows.length === 0) throw new UsageError('collate: no rows');
  const B = rows.length;
  let longest = opts.padTo ?? 0;
  for (const row of rows) longest = Math.max(longest, row.inputIds.length);
  const T = Math.max(MULTIPLE, Math.ceil(longest / MULTIPLE) * MULTIPLE);
  const packed = rows.some((r) => r.segments !== undefined);
  const ids = new Int32Array(B * T).fill(opts.padId);
  const labels = new Int32Array(B * T).fill(IGNORE_INDEX);
  const positions = packed ? new Int32Array(B * T) : null;
  const segments = packed ? new Int32Array(B * T) : null;
  let tokens = 0;
  rows.forEach((row, b) => {
    const n = row.inputIds.length;
    ids.set(row.inputIds, b * T);
    labels.set(row.labels, b * T);
    tokens += n;
    if (positions && segments) {
      if (row.positions && row.segments) {
        positions.set(row.positions, b * T);
        segments.set(row.segments, b * T);
      } else {
        for (let t = 0; t < n; t++) {
          positions[b * T + t] = t;
          segments[b * T + t] = 1;
        }
      }
    }
  });
  return { ids, labels, B, T, positions, segments, tokens };
}

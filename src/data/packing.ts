// Packing: several SFT samples share one row of at most cutoff_len tokens. Each sample keeps its own positions
// (0, 1, ...) and a segment id (1, 2, ...) so attention never crosses samples. The bin choice is LLaMA-Factory's
// greedy knapsack: take the longest sample that still fits, until nothing fits, then open a new row.

import type { TokenizedRow } from './dataset-store.js';

// Largest index i with sorted[i] <= capacity, or -1 (bisect_right - 1).
function searchForFit(sorted: number[], capacity: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] <= capacity) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

export function greedyKnapsack(lengths: number[], capacity: number): number[][] {
  const numbers = lengths.slice().sort((a, b) => a - b);
  const knapsacks: number[][] = [];
  while (numbers.length > 0) {
    const knapsack: number[] = [];
    let remaining = capacity;
    for (;;) {
      const index = searchForFit(numbers, remaining);
      if (index === -1) break;
      remaining -= numbers[index];
      knapsack.push(numbers[index]);
      numbers.splice(index, 1);
    }
    knapsacks.push(knapsack);
  }
  return knapsacks;
}

// Rows longer than cutoffLen cannot be packed and are dropped (counted by the caller).
export function packRows(rows: TokenizedRow[], cutoffLen: number): { rows: TokenizedRow[]; dropped: number } {
  const lengths: number[] = [];
  const byLength = new Map<number, number[]>();
  const kept: TokenizedRow[] = [];
  for (const row of rows) {
    const n = row.inputIds.length;
    if (n > cutoffLen || n === 0) continue;
    lengths.push(n);
    if (!byLength.has(n)) byLength.set(n, []);
    (byLength.get(n) as number[]).push(kept.length);
    kept.push(row);
  }
  const packed: TokenizedRow[] = [];
  for (const knapsack of greedyKnapsack(lengths, cutoffLen)) {
    const T = knapsack.reduce((a, b) => a + b, 0);
    const inputIds = new Int32Array(T);
    const labels = new Int32Array(T);
    const positions = new Int32Array(T);
    const segments = new Int32Array(T);
    let offset = 0;
    knapsack.forEach((length, k) => {
      const row = kept[(byLength.get(length) as number[]).pop() as number];
      inputIds.set(row.inputIds, offset);
      labels.set(row.labels, offset);
      for (let t = 0; t < length; t++) {
        positions[offset + t] = t;
        segments[offset + t] = k + 1;
      }
      offset += length;
    });
    packed.push({ inputIds, labels, positions, segments });
  }
  return { rows: packed, dropped: rows.length - kept.length };
}

// A small ASCII chart of an LR curve for the terminal (resume plan, dry run). Plain ASCII so it survives any log
// file or console encoding.

import { UsageError } from '../util/errors.js';

// Short fixed-width label for an LR, e.g. "2.0e-4".
function formatLr(lr: number): string {
  if (lr === 0) return '0';
  const [mantissa, exponent] = lr.toExponential(1).split('e');
  return `${mantissa}e${Number(exponent)}`;
}

// Row (0 = bottom) of each of `width` columns, resampling `values` by nearest index.
function columnRows(values: readonly number[], width: number, height: number, lo: number, hi: number): number[] {
  const rows: number[] = [];
  for (let c = 0; c < width; c++) {
    const i = width === 1 ? 0 : Math.round((c * (values.length - 1)) / (width - 1));
    // A flat curve sits on the top row: it is the peak LR.
    const t = hi > lo ? (values[i] - lo) / (hi - lo) : 1;
    rows.push(Math.round(t * (height - 1)));
  }
  return rows;
}

// `values` drawn as `height` text lines of `width` plot columns after a label gutter holding the max and min LR.
// Consecutive columns are joined vertically so a sharp drop still reads as one line.
export function renderLrCurve(values: readonly number[], width: number, height: number): string {
  if (values.length === 0) throw new UsageError('renderLrCurve: no values to draw');
  if (!(Number.isInteger(width) && width >= 1 && Number.isInteger(height) && height >= 2)) {
    throw new UsageError(`renderLrCurve: width must be >= 1 and height >= 2, got ${width}x${height}`);
  }
  for (const v of values) {
    if (!Number.isFinite(v)) throw new UsageError(`renderLrCurve: non-finite LR ${v}`);
  }
  const lo = values.reduce((a, b) => Math.min(a, b));
  const hi = values.reduce((a, b) => Math.max(a, b));
  const rows = columnRows(values, width, height, lo, hi);
  const grid = Array.from({ length: height }, () => Array<string>(width).fill(' '));
  for (let c = 0; c < width; c++) {
    const from = c === 0 ? rows[c] : rows[c - 1];
    const [a, b] = from < rows[c] ? [from + 1, rows[c]] : [rows[c], Math.max(rows[c], from - 1)];
    for (let r = a; r <= b; r++) grid[height - 1 - r][c] = '*';
  }
  const top = formatLr(hi);
  const bottom = formatLr(lo);
  const gutter = Math.max(top.length, bottom.length);
  return grid
    .map((cells, line) => {
      const label = line === 0 ? top : line === height - 1 ? bottom : '';
      const tick = line === 0 || line === height - 1 ? '+' : '|';
      return `${label.padStart(gutter)} ${tick}${cells.join('').trimEnd()}`;
    })
    .join('\n');
}

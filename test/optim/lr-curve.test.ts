import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderLrCurve } from '../../src/optim/lr-curve.js';
import { lrAt, type ScheduleSpec } from '../../src/optim/schedule.js';

test('a warmup-then-linear-decay curve rises to the top row and falls to the bottom one', () => {
  const spec: ScheduleSpec = { type: 'linear', baseLr: 2e-4, totalSteps: 40, warmupSteps: 10, kwargs: {} };
  const values = Array.from({ length: 41 }, (_, t) => lrAt(spec, t));
  const chart = renderLrCurve(values, 41, 5);
  const lines = chart.split('\n');
  assert.equal(lines.length, 5);
  assert.ok(lines[0].startsWith('2.0e-4 +'), lines[0]);
  assert.ok(lines[4].startsWith('     0 +'), lines[4]);
  const plot = lines.map((l) => l.slice('2.0e-4 +'.length).padEnd(41));
  // Column c shows step c: the peak (step 10) on the top row, both ends on the bottom row.
  assert.equal(plot[0][10], '*');
  assert.equal(plot[4][0], '*');
  assert.equal(plot[4][40], '*');
  // Every column has a mark, so the line is unbroken.
  for (let c = 0; c < 41; c++) assert.ok(plot.some((row) => row[c] === '*'), `column ${c}`);
});

test('a sharp drop is joined vertically and a flat curve sits on the top row', () => {
  const drop = renderLrCurve([1, 1, 0, 0], 4, 3).split('\n').map((l) => l.replace(/^[^+|]*[+|]/, '').padEnd(4));
  assert.deepEqual(drop.map((row) => row[2]), [' ', '*', '*']);
  const flat = renderLrCurve([3e-5, 3e-5, 3e-5], 3, 4).split('\n');
  assert.ok(flat[0].endsWith('+***'), flat[0]);
  assert.throws(() => renderLrCurve([], 10, 3), /no values/);
  assert.throws(() => renderLrCurve([1, Number.NaN], 10, 3), /non-finite/);
});

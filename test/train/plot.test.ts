import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { plotLoss, type PlotRow } from '../../src/train/plot.js';
import { smooth } from '../../src/train/smooth.js';

function logRows(): PlotRow[] {
  const rows: PlotRow[] = [];
  for (let step = 10; step <= 200; step += 10) {
    rows.push({ current_steps: step, loss: 3 * Math.exp(-step / 80) + 0.5 + 0.1 * Math.sin(step), lr: 1e-4 * (1 - step / 250) });
  }
  rows.push({ current_steps: 100, eval_loss: 1.4 }, { current_steps: 105, event: 'saved' } as PlotRow);
  return rows;
}

function polylinePoints(svg: string, id: string): [number, number][] {
  const match = new RegExp(`<polyline id="${id}"[^>]* points="([^"]*)"`).exec(svg);
  assert.ok(match, `polyline ${id} in the SVG`);
  return match[1].split(' ').map((p) => p.split(',').map(Number) as [number, number]);
}

// Points follow the data when x is one increasing affine function of the step and y one decreasing affine function
// of the value (the SVG y axis points down).
function assertAffine(points: [number, number][], steps: number[], values: number[]): void {
  assert.equal(points.length, steps.length);
  const iLo = values.indexOf(Math.min(...values));
  const iHi = values.indexOf(Math.max(...values));
  const xScale = (points[points.length - 1][0] - points[0][0]) / (steps[steps.length - 1] - steps[0]);
  const yScale = (points[iHi][1] - points[iLo][1]) / (values[iHi] - values[iLo]);
  assert.ok(xScale > 0 && yScale < 0, `scales ${xScale}, ${yScale}`);
  points.forEach(([x, y], i) => {
    assert.ok(Math.abs(x - (points[0][0] + xScale * (steps[i] - steps[0]))) < 0.02, `x of point ${i}`);
    assert.ok(Math.abs(y - (points[iLo][1] + yScale * (values[i] - values[iLo]))) < 0.02, `y of point ${i}`);
  });
}

test('smooth is LLaMA-Factory\'s EMA (values from its Python smooth())', () => {
  const expected = [2.0, 1.5559588507972182, 1.6838792456462035, 1.1653464231814166, 0.9296969618087689];
  smooth([2.0, 1.5, 1.7, 1.1, 0.9]).forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-15, `${i}: ${v}`));
  assert.deepEqual(smooth([]), []);
});

test('plotLoss writes an SVG whose loss, smoothed loss and LR polylines follow the log', () => {
  const dir = mkdtempSync(join(tmpdir(), 'retune-plot-'));
  const rows = logRows();
  assert.deepEqual(plotLoss(rows, dir), [join(dir, 'training_loss.png'), join(dir, 'training_loss.svg')]);
  const svg = readFileSync(join(dir, 'training_loss.svg'), 'utf8');
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="800" height="600"/);
  const stepRows = rows.filter((r) => typeof r.loss === 'number');
  const steps = stepRows.map((r) => r.current_steps);
  const losses = stepRows.map((r) => r.loss as number);
  assertAffine(polylinePoints(svg, 'loss'), steps, losses);
  assertAffine(polylinePoints(svg, 'loss-smoothed'), steps, smooth(losses));
  assertAffine(polylinePoints(svg, 'lr'), steps, stepRows.map((r) => r.lr as number));
  assert.equal((svg.match(/class="eval-loss"/g) ?? []).length, 1);
  for (const label of ['>loss<', '>learning rate<', '>step<', '>100<', '>200<', '>1.0e-4<']) assert.ok(svg.includes(label), label);
});

test('plotLoss draws the PNG at 800x600 with ink along the curves the SVG describes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'retune-plot-'));
  plotLoss(logRows(), dir);
  const png = PNG.sync.read(readFileSync(join(dir, 'training_loss.png')));
  assert.equal(png.width, 800);
  assert.equal(png.height, 600);
  const svg = readFileSync(join(dir, 'training_loss.svg'), 'utf8');
  const inked = (x: number, y: number) => {
    const i = (Math.round(y) * png.width + Math.round(x)) * 4;
    return png.data[i] !== 255 || png.data[i + 1] !== 255 || png.data[i + 2] !== 255;
  };
  for (const id of ['loss', 'loss-smoothed', 'lr']) {
    const points = polylinePoints(svg, id);
    points.forEach(([x, y], i) => assert.ok(inked(x, y), `${id} point ${i} at ${x},${y}`));
    // Midway between two logged points the segment joining them is drawn too.
    for (let i = 1; i < points.length; i++) {
      const [x, y] = [(points[i - 1][0] + points[i][0]) / 2, (points[i - 1][1] + points[i][1]) / 2];
      assert.ok([-1, 0, 1].some((d) => inked(x, y + d)), `${id} segment ${i}`);
    }
  }
  let blank = 0;
  for (let i = 0; i < png.data.length; i += 4) if (png.data[i] === 255 && png.data[i + 1] === 255 && png.data[i + 2] === 255) blank++;
  assert.ok(blank > 0.8 * 800 * 600, 'mostly background');
});

test('rows without a finite loss are left out; a log without any writes nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'retune-plot-'));
  assert.deepEqual(plotLoss([{ current_steps: 1, event: 'resume' } as PlotRow, { current_steps: 2, loss: null }], dir), []);
  assert.deepEqual(readdirSync(dir), []);
  const rows: PlotRow[] = [{ current_steps: 1, loss: 2 }, { current_steps: 2, loss: Number.NaN }, { current_steps: 3, loss: 1 }];
  plotLoss(rows, dir);
  const svg = readFileSync(join(dir, 'training_loss.svg'), 'utf8');
  assert.equal(polylinePoints(svg, 'loss').length, 2);
  assert.ok(!svg.includes('id="lr"'), 'no LR panel without LRs');
});

test('a single logged step still plots, and a second plot replaces the first without leftovers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'retune-plot-'));
  writeFileSync(join(dir, 'training_loss.png'), 'old');
  plotLoss([{ current_steps: 1, loss: 2.5, lr: 1e-5 }], dir);
  assert.ok(PNG.sync.read(readFileSync(join(dir, 'training_loss.png'))).width === 800);
  assert.deepEqual(readdirSync(dir).sort(), ['training_loss.png', 'training_loss.svg']);
  assert.ok(existsSync(join(dir, 'training_loss.svg')));
});

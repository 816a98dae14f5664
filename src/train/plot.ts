// training_loss.png and training_loss.svg from the trainer log, as LLaMA-Factory's plot_loss draws them: the raw loss,
// an EMA-smoothed loss on top, and (ours) the LR of every logged step in a second panel below, on the same step axis.
// The PNG is drawn pixel by pixel with a 5x7 bitmap font for the numbers, so no font or canvas library is needed.

import { writeTextAtomic } from '../util/write-atomic.js';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { RetuneError } from '../util/errors.js';
import { smooth } from './smooth.js';

// Any trainer_log.jsonl row; rows without a finite value for a series are left out of it.
export interface PlotRow {
  current_steps: number;
  loss?: unknown;
  lr?: unknown;
  eval_loss?: unknown;
}

interface Series {
  steps: number[];
  values: number[];
}

interface Range {
  lo: number;
  hi: number;
}

// A plot area in pixels and the data ranges it maps.
interface Panel {
  left: number;
  right: number;
  top: number;
  bottom: number;
  x: Range;
  y: Range;
}

interface PlotData {
  loss: Series;
  smoothed: number[];
  evalLoss: Series;
  lr: Series;
  steps: Range;
}

const WIDTH = 800;
const HEIGHT = 600;
const LOSS_BOX = { left: 80, right: 780, top: 30, bottom: 370 };
const LR_BOX = { left: 80, right: 780, top: 420, bottom: 560 };
const TICKS = 5; // about this many ticks per axis

type Rgb = [number, number, number];
const COLORS: Record<'background' | 'axis' | 'grid' | 'raw' | 'smoothed' | 'eval' | 'lr', Rgb> = {
  background: [255, 255, 255],
  axis: [40, 40, 40],
  grid: [225, 225, 225],
  raw: [158, 202, 225],
  smoothed: [31, 119, 180],
  eval: [214, 39, 40],
  lr: [255, 127, 14],
};

const hex = (c: Rgb) => `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;

function collect(rows: readonly PlotRow[], key: 'loss' | 'lr' | 'eval_loss'): Series {
  const series: Series = { steps: [], values: [] };
  for (const row of rows) {
    const value = row[key];
    if (typeof value === 'number' && Number.isFinite(value) && Number.isFinite(row.current_steps)) {
      series.steps.push(row.current_steps);
      series.values.push(value);
    }
  }
  return series;
}

// The values' span with 5% headroom, so the curve never runs along the frame; a flat series gets a band around it.
function paddedRange(values: readonly number[]): Range {
  const lo = values.reduce((a, b) => Math.min(a, b), Infinity);
  const hi = values.reduce((a, b) => Math.max(a, b), -Infinity);
  const pad = hi > lo ? (hi - lo) * 0.05 : Math.abs(lo) * 0.1 || 1;
  return { lo: lo - pad, hi: hi + pad };
}

function stepRange(series: readonly Series[]): Range {
  const steps = series.flatMap((s) => s.steps);
  const lo = steps.reduce((a, b) => Math.min(a, b), Infinity);
  const hi = steps.reduce((a, b) => Math.max(a, b), -Infinity);
  return hi > lo ? { lo, hi } : { lo: lo - 1, hi: hi + 1 };
}

// LRs are drawn from zero up, so warmup and decay read as fractions of the peak.
function lrRange(values: readonly number[]): Range {
  const hi = values.reduce((a, b) => Math.max(a, b), 0);
  return { lo: 0, hi: hi > 0 ? hi * 1.05 : 1 };
}

// Tick values at a round step (1, 2 or 5 times a power of ten) inside the range; `minStep` keeps step ticks whole.
function ticks(range: Range, minStep = 0): number[] {
  const raw = (range.hi - range.lo) / TICKS;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = Math.max(minStep, ([1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) as number));
  const first = Math.ceil(range.lo / step);
  const out: number[] = [];
  for (let i = first; i * step <= range.hi; i++) out.push(i * step);
  return out;
}

function px(panel: Panel, step: number): number {
  return panel.left + ((step - panel.x.lo) / (panel.x.hi - panel.x.lo)) * (panel.right - panel.left);
}

function py(panel: Panel, value: number): number {
  return panel.bottom - ((value - panel.y.lo) / (panel.y.hi - panel.y.lo)) * (panel.bottom - panel.top);
}

const formatStep = (step: number) => String(Math.round(step));
const formatLoss = (loss: number) => loss.toPrecision(3);
function formatLr(lr: number): string {
  const [mantissa, exponent] = lr.toExponential(1).split('e');
  return `${mantissa}e${exponent.replace('+', '')}`;
}

// ---------------------------------------------------------------------------------------------------------------
// PNG: an RGBA raster with lines and a 5x7 font

// Rows of 5 pixels, top to bottom, '#' = ink. Only what axis labels and numbers use.
const FONT: Record<string, string> = {
  '0': '.###.|#...#|#..##|#.#.#|##..#|#...#|.###.',
  '1': '..#..|.##..|..#..|..#..|..#..|..#..|.###.',
  '2': '.###.|#...#|....#|...#.|..#..|.#...|#####',
  '3': '#####|...#.|..#..|...#.|....#|#...#|.###.',
  '4': '...#.|..##.|.#.#.|#..#.|#####|...#.|...#.',
  '5': '#####|#....|####.|....#|....#|#...#|.###.',
  '6': '..##.|.#...|#....|####.|#...#|#...#|.###.',
  '7': '#####|....#|...#.|..#..|.#...|.#...|.#...',
  '8': '.###.|#...#|#...#|.###.|#...#|#...#|.###.',
  '9': '.###.|#...#|#...#|.####|....#|...#.|.##..',
  '.': '.....|.....|.....|.....|.....|.##..|.##..',
  '-': '.....|.....|.....|#####|.....|.....|.....',
  '+': '.....|..#..|..#..|#####|..#..|..#..|.....',
  e: '.....|.....|.###.|#...#|#####|#....|.###.',
  l: '.##..|..#..|..#..|..#..|..#..|..#..|.###.',
  o: '.....|.....|.###.|#...#|#...#|#...#|.###.',
  s: '.....|.....|.####|#....|.###.|....#|####.',
  r: '.....|.....|#.##.|##..#|#....|#....|#....',
  t: '.#...|.#...|###..|.#...|.#...|.#..#|..##.',
  p: '.....|.....|####.|#...#|####.|#....|#....',
  ' ': '.....|.....|.....|.....|.....|.....|.....',
};
const GLYPH_ADVANCE = 6; // 5 pixels and a gap

class Raster {
  readonly png: PNG;

  constructor(width: number, height: number, background: Rgb) {
    this.png = new PNG({ width, height });
    for (let i = 0; i < width * height; i++) this.png.data.set([...background, 255], i * 4);
  }

  set(x: number, y: number, color: Rgb): void {
    const xi = Math.round(x);
    const yi = Math.round(y);
    if (xi < 0 || yi < 0 || xi >= this.png.width || yi >= this.png.height) return;
    this.png.data.set(color, (yi * this.png.width + xi) * 4);
  }

  // Bresenham; `thick` also inks the pixel below each one so the line reads on dense plots.
  line(x0: number, y0: number, x1: number, y1: number, color: Rgb, thick = false): void {
    let [x, y] = [Math.round(x0), Math.round(y0)];
    const [xe, ye] = [Math.round(x1), Math.round(y1)];
    const dx = Math.abs(xe - x);
    const dy = -Math.abs(ye - y);
    const sx = x < xe ? 1 : -1;
    const sy = y < ye ? 1 : -1;
    let err = dx + dy;
    for (;;) {
      this.set(x, y, color);
      if (thick) this.set(x, y + 1, color);
      if (x === xe && y === ye) return;
      const e2 = 2 * err;
      if (e2 >= dy) {
        err += dy;
        x += sx;
      }
      if (e2 <= dx) {
        err += dx;
        y += sy;
      }
    }
  }

  // Text with its top-left corner at (x, y); characters without a glyph are an error in this file, not in the data.
  text(x: number, y: number, s: string, color: Rgb): void {
    [...s].forEach((ch, i) => {
      const glyph = FONT[ch];
      if (glyph === undefined) throw new RetuneError(`plot: no glyph for '${ch}' in '${s}'`);
      glyph.split('|').forEach((row, r) => {
        for (let c = 0; c < 5; c++) if (row[c] === '#') this.set(x + i * GLYPH_ADVANCE + c, y + r, color);
      });
    });
  }
}

const textWidth = (s: string) => s.length * GLYPH_ADVANCE - 1;

function drawAxesPng(r: Raster, panel: Panel, label: string, formatY: (v: number) => string): void {
  for (const v of ticks(panel.y)) {
    const y = py(panel, v);
    r.line(panel.left, y, panel.right, y, COLORS.grid);
    const text = formatY(v);
    r.text(panel.left - 6 - textWidth(text), Math.round(y) - 3, text, COLORS.axis);
  }
  for (const s of ticks(panel.x, 1)) {
    const x = px(panel, s);
    r.line(x, panel.bottom, x, panel.bottom + 4, COLORS.axis);
    const text = formatStep(s);
    r.text(Math.round(x) - Math.floor(textWidth(text) / 2), panel.bottom + 8, text, COLORS.axis);
  }
  r.line(panel.left, panel.top, panel.left, panel.bottom, COLORS.axis);
  r.line(panel.left, panel.bottom, panel.right, panel.bottom, COLORS.axis);
  r.text(panel.left, panel.top - 12, label, COLORS.axis);
}

function drawSeriesPng(r: Raster, panel: Panel, steps: readonly number[], values: readonly number[], color: Rgb, thick: boolean): void {
  for (let i = 0; i < steps.length; i++) {
    const [x1, y1] = [px(panel, steps[i]), py(panel, values[i])];
    const [x0, y0] = i === 0 ? [x1, y1] : [px(panel, steps[i - 1]), py(panel, values[i - 1])];
    r.line(x0, y0, x1, y1, color, thick);
  }
}

function drawMarkersPng(r: Raster, panel: Panel, series: Series, color: Rgb): void {
  series.steps.forEach((step, i) => {
    const [x, y] = [px(panel, step), py(panel, series.values[i])];
    for (let d = -2; d <= 2; d++) {
      r.set(x + d, y, color);
      r.set(x, y + d, color);
    }
  });
}

function renderPng(data: PlotData, lossPanel: Panel, lrPanel: Panel | null): Buffer {
  const r = new Raster(WIDTH, HEIGHT, COLORS.background);
  drawAxesPng(r, lossPanel, 'loss', formatLoss);
  drawSeriesPng(r, lossPanel, data.loss.steps, data.loss.values, COLORS.raw, false);
  drawSeriesPng(r, lossPanel, data.loss.steps, data.smoothed, COLORS.smoothed, true);
  drawMarkersPng(r, lossPanel, data.evalLoss, COLORS.eval);
  if (lrPanel !== null) {
    drawAxesPng(r, lrPanel, 'lr', formatLr);
    drawSeriesPng(r, lrPanel, data.lr.steps, data.lr.values, COLORS.lr, true);
  }
  r.text(LR_BOX.right - textWidth('step'), HEIGHT - 12, 'step', COLORS.axis);
  return PNG.sync.write(r.png);
}

// ---------------------------------------------------------------------------------------------------------------
// SVG: the same picture as text, with real axis labels

const n2 = (v: number) => v.toFixed(2);

function polyline(id: string, panel: Panel, steps: readonly number[], values: readonly number[], color: Rgb, width: number): string {
  const points = steps.map((s, i) => `${n2(px(panel, s))},${n2(py(panel, values[i]))}`).join(' ');
  return `<polyline id="${id}" fill="none" stroke="${hex(color)}" stroke-width="${width}" points="${points}"/>`;
}

function axesSvg(panel: Panel, label: string, formatY: (v: number) => string): string[] {
  const out: string[] = [];
  for (const v of ticks(panel.y)) {
    const y = n2(py(panel, v));
    out.push(`<line x1="${panel.left}" y1="${y}" x2="${panel.right}" y2="${y}" stroke="${hex(COLORS.grid)}"/>`);
    out.push(`<text x="${panel.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${formatY(v)}</text>`);
  }
  for (const s of ticks(panel.x, 1)) {
    const x = n2(px(panel, s));
    out.push(`<line x1="${x}" y1="${panel.bottom}" x2="${x}" y2="${panel.bottom + 4}" stroke="${hex(COLORS.axis)}"/>`);
    out.push(`<text x="${x}" y="${panel.bottom + 16}" text-anchor="middle">${formatStep(s)}</text>`);
  }
  out.push(`<polyline fill="none" stroke="${hex(COLORS.axis)}" points="${panel.left},${panel.top} ${panel.left},${panel.bottom} ${panel.right},${panel.bottom}"/>`);
  out.push(`<text x="${panel.left}" y="${panel.top - 8}">${label}</text>`);
  return out;
}

function renderSvg(data: PlotData, lossPanel: Panel, lrPanel: Panel | null): string {
  const body = [
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="${hex(COLORS.background)}"/>`,
    ...axesSvg(lossPanel, 'loss', formatLoss),
    polyline('loss', lossPanel, data.loss.steps, data.loss.values, COLORS.raw, 1),
    polyline('loss-smoothed', lossPanel, data.loss.steps, data.smoothed, COLORS.smoothed, 2),
    ...data.evalLoss.steps.map((s, i) =>
      `<circle class="eval-loss" cx="${n2(px(lossPanel, s))}" cy="${n2(py(lossPanel, data.evalLoss.values[i]))}" r="3" fill="${hex(COLORS.eval)}"/>`),
  ];
  if (lrPanel !== null) {
    body.push(...axesSvg(lrPanel, 'learning rate', formatLr), polyline('lr', lrPanel, data.lr.steps, data.lr.values, COLORS.lr, 2));
  }
  body.push(`<text x="${LR_BOX.right}" y="${HEIGHT - 8}" text-anchor="end">step</text>`);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="11">`,
    `<title>training loss</title>`,
    ...body.map((line) => `  ${line}`),
    '</svg>',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------------------------

// Writes outDir/training_loss.png and outDir/training_loss.svg and returns their paths; with no finite loss in the
// log it writes nothing and returns [] (LLaMA-Factory only warns then, and so does the trainer).
export function plotLoss(rows: readonly PlotRow[], outDir: string): string[] {
  const loss = collect(rows, 'loss');
  if (loss.steps.length === 0) return [];
  const lr = collect(rows, 'lr');
  const evalLoss = collect(rows, 'eval_loss');
  const data: PlotData = { loss, smoothed: smooth(loss.values), evalLoss, lr, steps: stepRange([loss, evalLoss, lr]) };
  const lossPanel: Panel = { ...LOSS_BOX, x: data.steps, y: paddedRange([...loss.values, ...evalLoss.values]) };
  const lrPanel: Panel | null = lr.steps.length > 0 ? { ...LR_BOX, x: data.steps, y: lrRange(lr.values) } : null;
  const png = join(outDir, 'training_loss.png');
  const svg = join(outDir, 'training_loss.svg');
  writeTextAtomic(png, renderPng(data, lossPanel, lrPanel));
  writeTextAtomic(svg, renderSvg(data, lossPanel, lrPanel));
  return [png, svg];
}

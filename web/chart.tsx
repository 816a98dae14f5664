// A line chart on uPlot: x is the optimizer step, one y array per series (null where a series has no point).
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface SeriesSpec {
  label: string;
  color: string;
  dash?: number[];
  width?: number;
  points?: boolean; // draw dots (sparse series such as eval loss)
}

export interface ChartProps {
  title: string;
  series: SeriesSpec[];
  x: number[];
  ys: (number | null)[][];
  markers?: { x: number; label: string }[]; // vertical lines (where a new LR takes effect)
  logY?: boolean;
  height?: number;
  testId?: string;
}

function markerPlugin(markers: { x: number; label: string }[]): uPlot.Plugin {
  return {
    hooks: {
      draw: (u: uPlot) => {
        const ctx = u.ctx;
        ctx.save();
        ctx.strokeStyle = '#c2410c';
        ctx.fillStyle = '#c2410c';
        ctx.setLineDash([4, 3]);
        ctx.font = `${Math.round(11 * devicePixelRatio)}px sans-serif`;
        for (const m of markers) {
          const px = u.valToPos(m.x, 'x', true);
          ctx.beginPath();
          ctx.moveTo(px, u.bbox.top);
          ctx.lineTo(px, u.bbox.top + u.bbox.height);
          ctx.stroke();
          ctx.fillText(m.label, px + 4, u.bbox.top + 12 * devicePixelRatio);
        }
        ctx.restore();
      },
    },
  };
}

// Small values (learning rates) read best in exponent form; uPlot's default would print 0.001 for both 1e-3 and 1.4e-3.
function tickLabels(_u: uPlot, values: number[]): string[] {
  const max = Math.max(...values.map(Math.abs));
  return values.map((v) => (max > 0 && max < 0.01 ? v.toExponential(1) : String(Number(v.toPrecision(4)))));
}

// The legend's value at the cursor: four significant digits, so 2e-4 does not read as 0 (uPlot's default keeps three
// decimals).
function legendValue(_u: uPlot, v: number | null): string {
  return v === null || v === undefined ? '—' : String(Number(v.toPrecision(4)));
}

function pointCount(ys: uPlot.AlignedData[number]): number {
  let n = 0;
  for (const v of ys) if (v !== null && v !== undefined) n++;
  return n;
}

export function Chart(props: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = `${props.title}|${props.series.map((s) => s.label).join(',')}|${props.logY ?? false}|` +
    JSON.stringify(props.markers ?? []);

  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    const opts: uPlot.Options = {
      title: props.title,
      width: Math.max(300, el.clientWidth),
      height: props.height ?? 220,
      scales: { x: { time: false }, y: props.logY === true ? { distr: 3 } : {} },
      axes: [{}, { size: 64, values: tickLabels }],
      series: [
        { label: 'step' },
        ...props.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: s.width ?? 1.5,
          dash: s.dash,
          spanGaps: !s.points,
          value: legendValue,
          // A lone point makes no line, so a series with one point (a run's first logged step) shows it as a dot.
          points: { show: (u: uPlot, i: number) => s.points === true || pointCount(u.data[i]) === 1, size: 6, fill: s.color },
        })),
      ],
      plugins: props.markers !== undefined && props.markers.length > 0 ? [markerPlugin(props.markers)] : [],
    };
    const u = new uPlot(opts, [props.x, ...props.ys] as uPlot.AlignedData, el);
    plot.current = u;
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(300, el.clientWidth), height: opts.height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
    // Rebuilt only when the chart's shape changes; new points go through setData below.
  }, [shape]);

  useEffect(() => {
    plot.current?.setData([props.x, ...props.ys] as uPlot.AlignedData);
  }, [props.x, props.ys]);

  return <div class="chart" ref={box} data-testid={props.testId} data-points={props.x.length} />;
}

// A run while it trains (and after): progress bar, live console, loss / LR / grad-norm charts from its
// trainer_log.jsonl rows as they arrive over server-sent events, and the live LR control.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, errorText, followRun, type LogRow, type LrCurves, type RunSummary } from '../api.js';
import { Chart } from '../chart.js';
import { t } from '../i18n/index.js';
import { lastEpoch, lastStepRow, runSeries, type LogRowLike } from '../series.js';

export interface RunFeed {
  rows: LogRow[];
  lines: string[];
  summary: RunSummary | null;
}

const MAX_LINES = 500;

// Subscribes to a run's events; the server replays the log first, so a reopened page sees the whole run. A new
// `session` (a Start in the same dir) subscribes afresh.
export function useRunFeed(dir: string | null, session: number): RunFeed {
  const [feed, setFeed] = useState<RunFeed>({ rows: [], lines: [], summary: null });
  useEffect(() => {
    setFeed({ rows: [], lines: [], summary: null });
    if (dir === null) return;
    return followRun(dir, (event) => {
      setFeed((f) => {
        if (event.type === 'row') return { ...f, rows: [...f.rows, event.row] };
        if (event.type === 'log') return { ...f, lines: [...f.lines, event.line].slice(-MAX_LINES) };
        if (event.type === 'reset') return { ...f, rows: [] }; // a resume rewrote the log: its rows follow again
        return { ...f, summary: event.summary };
      });
    });
  }, [dir, session]);
  return feed;
}

function Progress({ rows, summary }: { rows: LogRowLike[]; summary: RunSummary | null }) {
  const last = lastStepRow(rows);
  const total = last?.total_steps ?? summary?.totalSteps ?? 0;
  // The last logged step row lags behind when logging_steps does not divide the run (6 steps logged every 5); the
  // summary's step counts every row, checkpoint saves included, so a finished run shows its last step.
  const step = Math.max(last?.current_steps ?? 0, summary?.step ?? 0);
  const pct = total > 0 ? Math.min(100, (100 * step) / total) : 0;
  const epoch = lastEpoch(rows);
  return (
    <div data-testid="progress" data-step={step} data-total={total}>
      <div class="row">
        <span>{t('progressStep', { step, total })}</span>
        {epoch !== null && <span data-testid="progress-epoch">{t('progressEpoch', { epoch: epoch.toFixed(2) })}</span>}
        {last?.elapsed_time !== undefined && <span>{last.elapsed_time} &lt; {last.remaining_time}</span>}
        {summary !== null && <span class={`status ${summary.state}`} data-testid="run-state">{t(`state.${summary.state}` as const)}</span>}
        {/* While running, the summary's "running, step N" dates from the last status event; the live step is above. */}
        {summary !== null && summary.state !== 'running' && <span class="muted">{summary.message}</span>}
      </div>
      <div class="progress"><div style={{ width: `${pct}%` }} /></div>
    </div>
  );
}

// The planned LR curve (done + coming steps) as a series on the logged steps' axis, so both draw on one chart.
function lrChartData(rows: LogRowLike[], lr: LrCurves | null) {
  const s = runSeries(rows);
  const planned = new Map<number, number>();
  // A plan point at `step` is the LR of step step + 1; logged rows carry the step number they ran as.
  for (const p of [...(lr?.done ?? []), ...(lr?.planned ?? [])]) planned.set(p.step + 1, p.lr);
  const x = [...new Set([...s.steps, ...planned.keys()])].sort((a, b) => a - b);
  const logged = new Map(s.steps.map((step, i) => [step, s.lr[i]]));
  return { x, logged: x.map((v) => logged.get(v) ?? null), planned: x.map((v) => planned.get(v) ?? null) };
}

function RunCharts({ rows, curves }: { rows: LogRowLike[]; curves: LrCurves | null }) {
  const s = useMemo(() => runSeries(rows), [rows]);
  const lr = useMemo(() => lrChartData(rows, curves), [rows, curves]);
  // Where a new LR takes effect: the plan's change at Start, and every live change the trainer acknowledged.
  const markers = useMemo(() => [
    ...(curves?.changeAt != null ? [{ x: curves.changeAt + 1, label: t('newLrHere') }] : []),
    ...rows.filter((r) => r.event === 'lr_change').map((r) => ({ x: r.current_steps + 1, label: t('liveChange', { lr: String(r.lr) }) })),
  ], [rows, curves]);
  return (
    <div class="charts">
      <Chart title={t('chartLoss')} testId="chart-loss" x={s.steps} ys={[s.loss, s.smoothed, s.evalLoss]}
        series={[{ label: t('loss'), color: '#a5b4fc' }, { label: t('smoothed'), color: '#4338ca', width: 2 },
          { label: t('evalLoss'), color: '#dc2626', points: true }]} />
      <Chart title={t('chartLr')} testId="chart-lr" x={lr.x} ys={[lr.planned, lr.logged]} markers={markers}
        series={[{ label: t('plannedLr'), color: '#9ca3af', dash: [6, 4] },
          { label: t('loggedLr'), color: '#059669', width: 2, points: true }]} />
      <Chart title={t('chartGradNorm')} testId="chart-grad" x={s.steps} ys={[s.gradNorm]}
        series={[{ label: t('gradNorm'), color: '#d97706' }]} />
    </div>
  );
}

function LiveLr({ dir }: { dir: string }) {
  const [lr, setLr] = useState('');
  const [ramp, setRamp] = useState('0');
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const send = async () => {
    const value = Number(lr);
    const steps = Number(ramp);
    if (!(value > 0) || !Number.isInteger(steps) || steps < 0) {
      setMessage({ ok: false, text: t('liveLrInvalid') });
      return;
    }
    try {
      const res = await api.control({ dir, lr: value, ramp: steps });
      setMessage({ ok: true, text: t('liveLrSent', { id: res.id }) });
    } catch (e) {
      setMessage({ ok: false, text: errorText(e) });
    }
  };
  return (
    <div class="row" data-testid="live-lr">
      <b>{t('liveLr')}</b>
      <label class="field"><span class="name">{t('newLr')}</span>
        <input name="live-lr" value={lr} onInput={(e) => setLr(e.currentTarget.value)} placeholder="1e-4" /></label>
      <label class="field"><span class="name">{t('rampSteps')}</span>
        <input name="live-ramp" value={ramp} onInput={(e) => setRamp(e.currentTarget.value)} /></label>
      <button onClick={send}>{t('applyNow')}</button>
      {message !== null && <span class={message.ok ? 'ok' : 'error'} data-testid="live-lr-message">{message.text}</span>}
    </div>
  );
}

export function RunView({ dir, feed, lr }: { dir: string; feed: RunFeed; lr: LrCurves | null }) {
  const running = feed.summary?.state === 'running';
  return (
    <section class="card" data-testid="run-view" data-dir={dir}>
      <h2>{t('runOf', { dir })}</h2>
      <Progress rows={feed.rows as LogRowLike[]} summary={feed.summary} />
      {running && <LiveLr dir={dir} />}
      <RunCharts rows={feed.rows as LogRowLike[]} curves={lr} />
      {feed.lines.length > 0 && <pre class="log" data-testid="run-log">{feed.lines.join('\n')}</pre>}
    </section>
  );
}

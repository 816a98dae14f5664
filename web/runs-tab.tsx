// Every run under the root with its state, and the training loss of the chosen runs on one chart.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, errorText, type RunSummary } from './api.js';
import { Chart } from './chart.js';
import { t } from './i18n/index.js';

const COLORS = ['#4f46e5', '#dc2626', '#059669', '#d97706', '#0891b2', '#9333ea', '#be185d', '#4b5563'];

function lossChart(runs: RunSummary[]) {
  const x = [...new Set(runs.flatMap((r) => r.loss.map((p) => p.step)))].sort((a, b) => a - b);
  const ys = runs.map((r) => {
    const byStep = new Map(r.loss.map((p) => [p.step, p.loss]));
    return x.map((s) => byStep.get(s) ?? null);
  });
  return { x, ys };
}

export function RunsTab({ onOpen }: { onOpen: (dir: string) => void }) {
  const [runs, setRuns] = useState<RunSummary[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [shown, setShown] = useState<Set<string>>(new Set());
  const refresh = () => api.runs().then((r) => {
    setRuns(r.runs);
    setError(null);
    setShown((s) => (s.size > 0 ? s : new Set(r.runs.slice(0, 4).map((run) => run.dir))));
  }).catch((e) => setError(errorText(e)));
  useEffect(() => {
    void refresh();
  }, []);
  const chosen = runs.filter((r) => shown.has(r.dir));
  const chart = useMemo(() => lossChart(chosen), [runs, shown]);
  const toggle = (dir: string, on: boolean) => setShown((s) => {
    const next = new Set(s);
    if (on) next.add(dir);
    else next.delete(dir);
    return next;
  });
  return (
    <div>
      <section class="card">
        <h2>{t('runs')} <button onClick={refresh}>{t('refresh')}</button></h2>
        {error !== null && <p class="error">{error}</p>}
        {runs.length === 0 && error === null && <p class="muted">{t('noRuns')}</p>}
        <table data-testid="runs">
          <thead><tr><th /><th>{t('outputDir')}</th><th>{t('status')}</th><th>{t('step')}</th><th>{t('updated')}</th><th /></tr></thead>
          <tbody>
            {runs.map((r) => (
              <tr data-run={r.dir}>
                <td><input type="checkbox" checked={shown.has(r.dir)} onChange={(e) => toggle(r.dir, e.currentTarget.checked)} /></td>
                <td><code>{r.dir}</code></td>
                <td><span class={`status ${r.state}`}>{t(`state.${r.state}` as const)}</span> <span class="muted">{r.message}</span></td>
                <td>{r.step}{r.totalSteps !== null ? ` / ${r.totalSteps}` : ''}</td>
                <td>{r.updated === '' ? '' : new Date(r.updated).toLocaleString()}</td>
                <td><button onClick={() => onOpen(r.dir)}>{t('openInTrain')}</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      {chosen.length > 0 && (
        <section class="card">
          <Chart title={t('lossOfRuns')} testId="chart-runs" x={chart.x} ys={chart.ys}
            series={chosen.map((r, i) => ({ label: r.dir, color: COLORS[i % COLORS.length] }))} />
        </section>
      )}
    </div>
  );
}

// Evaluate & Predict: LLaMA-Factory's do_eval / do_predict as a child run of `retune train` with do_train false, on
// the chosen model and adapters or a trained run's output dir. The form's fields come from the key metadata like the
// Train form's; while it runs the tab shows its progress (parts done) and console, then the CLI's results: eval loss
// and perplexity, BLEU-4 / ROUGE, and the first generated predictions next to their prompts and labels.
import { useEffect, useMemo, useState } from 'preact/hooks';
import {
  api, ApiFailure, errorText, followEval, type ConfigKeysResponse, type EvalResults, type EvalStatus, type FieldError,
  type KeyInfo, type RawConfig, type RunSummary,
} from './api.js';
import { t } from './i18n/index.js';
import { DataCard, useDatasets } from './train/data-card.js';
import { Field } from './train/fields.js';
import { useDebounced } from './train/use-debounced.js';

const MODEL_KEYS = ['model_name_or_path', 'adapter_name_or_path', 'template', 'finetuning_type'];
const DATA_KEYS = ['cutoff_len', 'max_samples', 'per_device_eval_batch_size'];
const RUN_KEYS = ['do_eval', 'do_predict', 'predict_with_generate', 'output_dir'];
// LLaMA-Factory's Evaluate & Predict tab starts with both on; the predictions are generated.
const INITIAL: RawConfig = { do_train: false, do_eval: true, do_predict: true, predict_with_generate: true };
const MAX_LINES = 500;

interface EvalFeed {
  status: EvalStatus | null;
  lines: string[];
}

function useEvalFeed(dir: string | null, session: number): EvalFeed {
  const [feed, setFeed] = useState<EvalFeed>({ status: null, lines: [] });
  useEffect(() => {
    setFeed({ status: null, lines: [] });
    if (dir === null) return;
    return followEval(dir, (event) => setFeed((f) => (event.type === 'log'
      ? { ...f, lines: [...f.lines, event.line].slice(-MAX_LINES) }
      : { ...f, status: event.status })));
  }, [dir, session]);
  return feed;
}

function Metrics({ metrics, testId }: { metrics: Record<string, number>; testId: string }) {
  return (
    <table class="metrics" data-testid={testId}>
      <tbody>
        {Object.entries(metrics).map(([k, v]) => <tr data-metric={k}><td><code>{k}</code></td><td>{Number(v.toPrecision(6))}</td></tr>)}
      </tbody>
    </table>
  );
}

function Results({ results, status }: { results: EvalResults; status: EvalStatus }) {
  return (
    <section class="card" data-testid="eval-results">
      <h2>{t('evalResults', { dir: results.dir })}</h2>
      <div class="row top">
        {status.parts.includes('eval') && results.eval !== null && (
          <div><h3>{t('evalFeature')}</h3><Metrics metrics={results.eval} testId="eval-metrics" /></div>
        )}
        {status.parts.includes('predict') && results.predict !== null && (
          <div><h3>{t('predictFeature')}</h3><Metrics metrics={results.predict} testId="predict-metrics" /></div>
        )}
      </div>
      {status.parts.includes('predict') && results.predictions.length > 0 && (
        <>
          <p class="muted">{t('predictionsShown', { n: results.predictions.length, total: results.predictionCount })}</p>
          <table class="predictions" data-testid="predictions">
            <thead><tr><th>{t('prompt')}</th><th>{t('prediction')}</th><th>{t('label')}</th></tr></thead>
            <tbody>
              {results.predictions.map((p) => <tr><td><pre>{p.prompt}</pre></td><td><pre>{p.predict}</pre></td><td><pre>{p.label}</pre></td></tr>)}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

function Progress({ status }: { status: EvalStatus }) {
  const running = status.state === 'running';
  const pct = status.parts.length === 0 ? 0 : (100 * status.done.length) / status.parts.length;
  return (
    <div data-testid="eval-progress" data-done={status.done.join(',')}>
      <div class="row">
        <span>{t('evalProgress', { done: status.done.length, total: status.parts.length })}</span>
        <span class={`status ${status.state}`} data-testid="eval-state">{t(`evalState.${status.state}` as const)}</span>
        {status.message !== '' && <span class={status.state === 'failed' ? 'error' : 'muted'} data-testid="eval-message">{status.message}</span>}
      </div>
      <div class={`progress${running ? ' busy' : ''}`}><div style={{ width: `${running ? Math.max(pct, 4) : pct}%` }} /></div>
    </div>
  );
}

export function EvaluateTab({ keys, active }: { keys: ConfigKeysResponse; active: boolean }) {
  const keyMap = useMemo(() => new Map<string, KeyInfo>(keys.groups.flatMap((g) => g.keys.map((k) => [k.key, k]))), [keys]);
  const generating = useMemo(() => keys.groups.find((g) => g.name === 'generating')?.keys ?? [], [keys]);
  const [values, setValues] = useState<RawConfig>(INITIAL);
  const [errors, setErrors] = useState<FieldError[]>([]);
  const [runs, setRuns] = useState<RunSummary[]>([]);
  const [run, setRun] = useState('');
  const [activeDir, setActiveDir] = useState<string | null>(null);
  const [session, setSession] = useState(0);
  const [results, setResults] = useState<EvalResults | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const feed = useEvalFeed(activeDir, session);
  const status = feed.status;
  const running = status?.state === 'running';
  const datasetDir = values.dataset_dir ?? keyMap.get('dataset_dir')?.default;
  // Looked up while the tab is shown: the hidden tab's default dataset_dir is nobody's concern.
  const datasets = useDatasets(active && typeof datasetDir === 'string' ? datasetDir : null);

  // Runs that may hold trained weights (the server says so when one has none yet).
  useEffect(() => {
    if (active) api.runs().then((r) => setRuns(r.runs.filter((x) => x.state !== 'running' && x.state !== 'empty'))).catch(() => undefined);
  }, [active]);
  useDebounced((current) => {
    api.validate(values).then((r) => current() && setErrors(r.fields)).catch(() => undefined);
  }, [values]);
  useEffect(() => {
    if (activeDir === null || status?.state !== 'finished') return;
    api.evalResults(activeDir).then(setResults).catch((e) => setMessage(errorText(e)));
  }, [activeDir, status?.state]);

  const change = (key: string, value: unknown) => setValues((v) => {
    const next = { ...v };
    if (value === null || value === '') delete next[key];
    else next[key] = value;
    return next;
  });
  const chooseRun = (dir: string) => {
    setRun(dir);
    if (dir !== '' && values.output_dir === undefined) change('output_dir', `${dir}-eval`);
  };
  const start = async () => {
    setMessage(null);
    setResults(null);
    try {
      const res = await api.evalStart({ config: values, ...(run !== '' ? { run } : {}) });
      setActiveDir(res.dir);
      setSession((n) => n + 1);
    } catch (e) {
      if (e instanceof ApiFailure && e.fields.length > 0) setErrors(e.fields);
      setMessage(errorText(e));
    }
  };
  const stop = () => api.evalStop(activeDir!).catch((e) => setMessage(errorText(e)));
  const field = (info: KeyInfo | undefined) => info === undefined ? null
    : <Field info={info} values={values} errors={errors} onChange={change} />;
  const fields = (names: string[]) => names.map((k) => field(keyMap.get(k)));

  return (
    <div data-testid="evaluate">
      <section class="card">
        <h2>{t('model')}</h2>
        <div class="row">
          <label class="field"><span class="name">{t('runDir')}</span>
            <select name="eval-run" value={run} onChange={(e) => chooseRun(e.currentTarget.value)}>
              <option value="">{t('noRunChosen')}</option>
              {runs.map((r) => <option value={r.dir}>{r.dir} ({t(`state.${r.state}` as const)})</option>)}
            </select></label>
          <span class="muted">{run !== '' ? t('runGivesModel', { dir: run }) : t('orChooseModel')}</span>
        </div>
        {run === '' && <div class="keys">{fields(MODEL_KEYS)}</div>}
        {run !== '' && <div class="keys">{field(keyMap.get('template'))}</div>}
      </section>
      <DataCard values={values} list={datasets} datasetKey="eval_dataset" onChange={change}>
        {field(keyMap.get('dataset_dir'))}
        {errors.filter((e) => e.key === 'eval_dataset').map((e) => <span class="error" role="alert">{e.message}</span>)}
      </DataCard>
      <section class="card">
        <h2>{t('settings')}</h2>
        <div class="keys">{fields([...RUN_KEYS, ...DATA_KEYS])}</div>
        <details class="group" open data-group="generating">
          <summary>{t('group.generating')}</summary>
          <div class="keys">{generating.map((info) => field(info))}</div>
        </details>
        <div class="row">
          <button class="primary" onClick={start} disabled={running} data-testid="eval-start">{t('start')}</button>
          <button onClick={stop} disabled={!running} data-testid="eval-stop">{t('stop')}</button>
          {message !== null && <span class="error" data-testid="eval-error">{message}</span>}
        </div>
      </section>
      {activeDir !== null && status !== null && (
        <section class="card" data-testid="eval-run" data-dir={activeDir}>
          <h2>{t('runOf', { dir: activeDir })}</h2>
          <Progress status={status} />
          {status.argv.length > 0 && <pre class="command">{status.argv.join(' ')}</pre>}
          {feed.lines.length > 0 && <pre class="log" data-testid="eval-log">{feed.lines.join('\n')}</pre>}
        </section>
      )}
      {results !== null && status !== null && <Results results={results} status={status} />}
    </div>
  );
}

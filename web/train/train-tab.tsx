// The Train tab: the config form (generated from the server's key metadata), model and data cards, the run
// controls, the resume panel of the chosen output dir, and the live view of its run.
import { useEffect, useMemo, useState } from 'preact/hooks';
import {
  api, ApiFailure, errorText, type CommandResponse, type ConfigKeysResponse, type FieldError, type InfoResponse,
  type KeyInfo, type LrCurves, type ModelInfo, type PlanResponse, type RawConfig, type RunDetail,
} from '../api.js';
import { t } from '../i18n/index.js';
import { DataCard, useDatasets } from './data-card.js';
import { Field, KeyGroups } from './fields.js';
import { PlanView, ResumePanel } from './resume-panel.js';
import { RunView, useRunFeed } from './run-view.js';
import { useDebounced } from './use-debounced.js';

// Keys placed in the model, data and run cards rather than in the groups below.
const PLACED = new Set(['model_name_or_path', 'template', 'finetuning_type', 'stage', 'dataset', 'dataset_dir',
  'output_dir', 'resume_from_checkpoint', 'do_train']);

function ModelInfoLine({ model, error }: { model: ModelInfo | null; error: string | null }) {
  if (error !== null) return <p class="error" data-testid="model-error">{error}</p>;
  if (model === null) return null;
  return (
    <p class="muted" data-testid="model-info">
      {t('modelInfo', {
        family: model.family, params: (model.parameters / 1e6).toFixed(2), dtype: model.dtype,
        context: model.contextLength, layers: model.layers,
      })}
      {model.template !== null ? ` · ${t('templateGuess', { template: model.template })}` : ''}
    </p>
  );
}

export interface TrainTabProps {
  info: InfoResponse;
  keys: ConfigKeysResponse;
  openDir: string | null; // a run opened from the Runs tab
}

// Groups of `retune chat` and `retune export` only; the Train tab lists the rest, as `retune train --help` does.
const NOT_TRAIN_GROUPS = new Set(['generating', 'export']);

export function TrainTab({ info, keys, openDir }: TrainTabProps) {
  const keyMap = useMemo(() => new Map<string, KeyInfo>(keys.groups.flatMap((g) => g.keys.map((k) => [k.key, k]))), [keys]);
  const [values, setValues] = useState<RawConfig>(openDir !== null ? { do_train: true, output_dir: openDir } : { do_train: true });
  const trainGroups = useMemo(() => keys.groups.filter((g) => !NOT_TRAIN_GROUPS.has(g.name)), [keys]);
  const [errors, setErrors] = useState<FieldError[]>([]);
  const [model, setModel] = useState<ModelInfo | null>(null);
  const [modelError, setModelError] = useState<string | null>(null);
  // False until the page knows whether it reattaches to a run (whose config then fills the form): lookups of the
  // empty form's defaults wait, so their answers never flash before the run's own.
  const [settled, setSettled] = useState(false);
  const [detail, setDetail] = useState<RunDetail | null>(null);
  const [loadedDir, setLoadedDir] = useState<string | null>(null);
  const [plan, setPlan] = useState<PlanResponse | null>(null);
  const [planError, setPlanError] = useState<string | null>(null);
  const [runLr, setRunLr] = useState<LrCurves | null>(null);
  const [activeDir, setActiveDir] = useState<string | null>(null);
  const [command, setCommand] = useState<CommandResponse | null>(null);
  // untilStopped: a message about the running run (Stopping...), not shown once the run is no longer running.
  const [message, setMessage] = useState<{ ok: boolean; text: string; untilStopped?: boolean } | null>(null);
  const [configPath, setConfigPath] = useState('');
  const [session, setSession] = useState(0);
  const feed = useRunFeed(activeDir, session);
  const running = feed.summary?.state === 'running';
  const outputDir = typeof values.output_dir === 'string' && values.output_dir !== '' ? values.output_dir : null;

  const change = (key: string, value: unknown) => {
    setValues((v) => {
      const next = { ...v };
      if (value === null || value === '') delete next[key];
      else next[key] = value;
      return next;
    });
    setCommand(null);
  };

  // Reattach: a run that still trains is shown at once when the page opens.
  useEffect(() => {
    if (openDir !== null) return;
    api.runs().then((r) => {
      const live = r.runs.find((run) => run.state === 'running');
      if (live !== undefined) {
        change('output_dir', live.dir);
        setActiveDir(live.dir);
      } else {
        setSettled(true);
      }
    }).catch(() => setSettled(true));
  }, []);

  useDebounced((current) => {
    api.validate(values).then((r) => current() && setErrors(r.fields)).catch(() => undefined);
  }, [values]);

  const modelPath = values.model_name_or_path;
  useDebounced((current) => {
    if (typeof modelPath !== 'string' || modelPath === '') {
      setModel(null);
      setModelError(null);
      return;
    }
    api.model(modelPath).then((m) => {
      if (!current()) return;
      setModel(m);
      setModelError(null);
      // LLaMA-Factory fills the template from the model name; the user may change it.
      if (m.template !== null) setValues((v) => ('template' in v ? v : { ...v, template: m.template }));
    }).catch((e) => current() && (setModel(null), setModelError(errorText(e))));
  }, [modelPath]);

  const datasetDir = values.dataset_dir ?? keyMap.get('dataset_dir')?.default;
  const datasets = useDatasets(settled && typeof datasetDir === 'string' ? datasetDir : null);

  // An output dir holding a run: its config fills the form once, its checkpoints feed the resume panel.
  const refreshDetail = (dir: string, current: () => boolean) =>
    api.run(dir).then((d) => {
      if (!current()) return;
      setDetail(d);
      if (d.config !== null && loadedDir !== dir) {
        setValues({ ...d.config, output_dir: dir });
        setLoadedDir(dir);
      }
      if (d.summary.state === 'running') setActiveDir(dir);
      setSettled(true);
    }).catch(() => current() && (setDetail(null), setSettled(true)));
  useDebounced((current) => {
    if (outputDir === null) setDetail(null);
    else void refreshDetail(outputDir, current);
  }, [outputDir, feed.summary?.state]);

  useDebounced((current) => {
    if (outputDir === null || running) return;
    api.plan(values).then((p) => current() && (setPlan(p), setPlanError(null)))
      .catch((e) => current() && (setPlan(null), setPlanError(errorText(e))));
  }, [values, running, detail]);

  const act = async (what: () => Promise<string>, untilStopped = false) => {
    setMessage(null);
    try {
      setMessage({ ok: true, text: await what(), untilStopped });
    } catch (e) {
      if (e instanceof ApiFailure && e.fields.length > 0) setErrors(e.fields);
      setMessage({ ok: false, text: errorText(e) });
    }
  };
  // The planned LR of the run on view, from the server that started it, fetched again after each live change so the
  // curve is redrawn from the new LR history.
  const lrChanges = feed.rows.filter((r) => r.event === 'lr_change').length;
  useEffect(() => {
    if (activeDir === null) return;
    let current = true;
    api.runLr(activeDir).then((lr) => current && setRunLr(lr)).catch(() => current && setRunLr(null));
    return () => {
      current = false;
    };
  }, [activeDir, session, lrChanges]);

  const start = () => act(async () => {
    const res = await api.start(values);
    setLoadedDir(res.dir);
    setActiveDir(res.dir);
    setSession((n) => n + 1);
    return t('started', { dir: res.dir, pid: res.pid });
  });
  const stop = () => act(async () => (await api.stop(activeDir!), t('stopRequested')), true);
  const shownMessage = message?.untilStopped && !running ? null : message;
  const abort = () => act(async () => (await api.abort(activeDir!), t('abortRequested')));
  const preview = () => act(async () => {
    setCommand(await api.command(values));
    return '';
  });
  const save = () => act(async () => t('saved', { path: (await api.saveConfig(configPath, values)).path }));
  const load = () => act(async () => {
    const res = await api.loadConfig(configPath);
    setValues(res.config);
    setErrors(res.fields);
    return t('loaded', { path: res.path });
  });

  const field = (key: string, extra: { disabledChoices?: Set<string>; list?: string[] } = {}) => {
    const infoOf = keyMap.get(key);
    return infoOf === undefined ? null : <Field info={infoOf} values={values} errors={errors} onChange={change} {...extra} />;
  };
  const unavailable = new Set(info.stages.filter((s) => !s.available).map((s) => s.name));
  const chosen = typeof values.resume_from_checkpoint === 'string' ? values.resume_from_checkpoint.split('/').pop()! : null;
  const refused = plan?.refusal != null;

  return (
    <div>
      <section class="card">
        <h2>{t('model')}</h2>
        <div class="row">
          <div class="grow">{field('model_name_or_path')}</div>
          {field('template', { list: model?.template != null ? [model.template] : [] })}
          {field('finetuning_type')}
          {field('stage', { disabledChoices: unavailable })}
        </div>
        <ModelInfoLine model={model} error={modelError} />
      </section>
      <DataCard values={values} list={datasets} onChange={change}>
        {field('dataset_dir')}
        {errors.filter((e) => e.key === 'dataset').map((e) => <span class="error" role="alert">{e.message}</span>)}
      </DataCard>
      <section class="card">
        <h2>{t('settings')}</h2>
        <KeyGroups groups={trainGroups} skip={PLACED} values={values} errors={errors} onChange={change} />
        {errors.filter((e) => e.key === '' || !keyMap.has(e.key)).map((e) => <p class="error" role="alert">{e.message}</p>)}
      </section>
      <section class="card">
        <h2>{t('run')}</h2>
        <div class="row">
          <div class="grow">{field('output_dir')}</div>
          <label class="field grow"><span class="name">{t('configFile')}</span>
            <input name="config-path" value={configPath} placeholder="configs/my-run.yaml"
              onInput={(e) => setConfigPath(e.currentTarget.value)} /></label>
          <button onClick={load} disabled={configPath === ''} data-testid="config-load">{t('loadConfig')}</button>
          <button onClick={save} disabled={configPath === ''} data-testid="config-save">{t('saveConfig')}</button>
        </div>
        <div class="row" style={{ marginTop: '10px' }}>
          <button onClick={preview} data-testid="preview-command">{t('previewCommand')}</button>
          <button class="primary" onClick={start} disabled={running || refused || errors.length > 0} data-testid="start">
            {plan?.kind === 'resume' ? t('resume') : t('start')}</button>
          <button onClick={stop} disabled={!running} data-testid="stop">{t('stop')}</button>
          <button class="danger" onClick={abort} disabled={!running} data-testid="abort">{t('abort')}</button>
          {shownMessage !== null && shownMessage.text !== '' &&
            <span class={shownMessage.ok ? 'ok' : 'error'} data-testid="message">{shownMessage.text}</span>}
        </div>
        {command !== null && (
          <div data-testid="command"><pre class="command">{command.command}</pre>
            <details><summary class="muted">training_args.yaml</summary><pre class="command">{command.yaml}</pre></details></div>
        )}
      </section>
      {outputDir !== null && !running && (detail?.checkpoints.length ?? 0) > 0 && (
        <ResumePanel checkpoints={detail!.checkpoints} chosen={chosen} plan={plan} planError={planError}
          onChoose={(name) => change('resume_from_checkpoint', name === null ? null : `${outputDir}/${name}`)} />
      )}
      {outputDir !== null && !running && plan?.kind === 'fresh' && (
        <section class="card" data-testid="fresh-plan"><PlanView plan={plan} /></section>
      )}
      {activeDir !== null && <RunView dir={activeDir} feed={feed} lr={runLr} />}
    </div>
  );
}

// Datasets of dataset_dir/dataset_info.json as a multi-select, and a preview of a dataset's first rows in their
// converted form (system / user / assistant turns) with their token count under the chosen template.
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, errorText, type DatasetEntry, type DatasetPreviewResponse, type RawConfig } from '../api.js';
import { t } from '../i18n/index.js';
import { useDebounced } from './use-debounced.js';

export interface DatasetList {
  datasets: DatasetEntry[];
  error: string | null;
}

// The datasets of `dir`'s dataset_info.json. A changed dir drops the old list and its error at once, so a form that
// fills in (a reattached run, a loaded config) never shows the previous dir's problem while the new list loads; null
// (a form still being filled) asks for nothing.
export function useDatasets(dir: string | null): DatasetList {
  const [list, setList] = useState<DatasetList>({ datasets: [], error: null });
  useEffect(() => setList({ datasets: [], error: null }), [dir]);
  useDebounced((current) => {
    if (dir === null) return;
    api.datasets(dir).then((r) => current() && setList({ datasets: r.datasets, error: null }))
      .catch((e) => current() && setList({ datasets: [], error: errorText(e) }));
  }, [dir]);
  return list;
}

function selected(values: RawConfig, key: string): string[] {
  const v = values[key];
  if (typeof v !== 'string') return Array.isArray(v) ? v.map(String) : [];
  return v.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

function Preview({ preview }: { preview: DatasetPreviewResponse }) {
  return (
    <div data-testid="dataset-preview">
      <p class="muted">{t('previewOf', { name: preview.dataset, total: preview.total, template: preview.template ?? t('unset') })}</p>
      {preview.rows.map((row, i) => (
        <div class="sample">
          <div class="muted">#{i + 1} · {row.tokens === null ? t('noTokenizer') : t('tokenCount', { n: row.tokens, trained: row.trainedTokens ?? 0 })}</div>
          {row.system !== '' && <div><b>system</b>: {row.system}</div>}
          {row.turns.map((turn) => <div><b>{turn.role}</b>: {turn.content}</div>)}
        </div>
      ))}
    </div>
  );
}

export interface DataCardProps {
  values: RawConfig;
  list: DatasetList;
  datasetKey?: 'dataset' | 'eval_dataset'; // the key the checked datasets go to (default dataset)
  onChange: (key: string, value: unknown) => void;
  children: ComponentChildren; // the dataset_dir field
}

export function DataCard({ values, list, datasetKey = 'dataset', onChange, children }: DataCardProps) {
  const [preview, setPreview] = useState<DatasetPreviewResponse | null>(null);
  const [previewError, setPreviewError] = useState<string | null>(null);
  const { datasets, error: datasetsError } = list;
  const chosen = selected(values, datasetKey);
  const toggle = (name: string, on: boolean) => {
    const next = on ? [...chosen, name] : chosen.filter((n) => n !== name);
    onChange(datasetKey, next.length === 0 ? null : next.join(','));
  };
  const show = async (name: string) => {
    setPreviewError(null);
    try {
      setPreview(await api.preview({ config: values, dataset: name, rows: 3 }));
    } catch (e) {
      setPreview(null);
      setPreviewError(errorText(e));
    }
  };
  return (
    <section class="card">
      <h2>{t('data')}</h2>
      <div class="row">{children}</div>
      {datasetsError !== null && <p class="error">{datasetsError}</p>}
      <div class="row" data-testid="datasets">
        {datasets.map((d) => (
          <span>
            <label><input type="checkbox" name={`${datasetKey}-${d.name}`} checked={chosen.includes(d.name)}
              onChange={(e) => toggle(d.name, e.currentTarget.checked)} /> {d.name}</label>
            <span class="muted"> {d.formatting}/{d.kind} </span>
            <button type="button" onClick={() => show(d.name)} data-preview={d.name}>{t('preview')}</button>
          </span>
        ))}
      </div>
      {previewError !== null && <p class="error">{previewError}</p>}
      {preview !== null && <Preview preview={preview} />}
    </section>
  );
}

// Datasets of dataset_dir/dataset_info.json as a multi-select, and a preview of a dataset's first rows in their
// converted form (system / user / assistant turns) with their token count under the chosen template.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { api, errorText, type DatasetEntry, type DatasetPreviewResponse, type RawConfig } from '../api.js';
import { t } from '../i18n/index.js';

function selected(values: RawConfig): string[] {
  const v = values.dataset;
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
  datasets: DatasetEntry[];
  datasetsError: string | null;
  onChange: (key: string, value: unknown) => void;
  children: ComponentChildren; // the dataset_dir field
}

export function DataCard({ values, datasets, datasetsError, onChange, children }: DataCardProps) {
  const [preview, setPreview] = useState<DatasetPreviewResponse | null>(null);
  const [previewError, setPreviewError] = useState<string | null>(null);
  const chosen = selected(values);
  const toggle = (name: string, on: boolean) => {
    const next = on ? [...chosen, name] : chosen.filter((n) => n !== name);
    onChange('dataset', next.length === 0 ? null : next.join(','));
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
            <label><input type="checkbox" name={`dataset-${d.name}`} checked={chosen.includes(d.name)}
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

// Export: the `retune export` settings (model, adapters, template and the export group's keys, from the key
// metadata), run it, and show the folder it wrote.
import { useState } from 'preact/hooks';
import { api, ApiFailure, errorText, type ConfigKeysResponse, type ExportResponse, type FieldError, type RawConfig } from './api.js';
import { t } from './i18n/index.js';
import { Field } from './train/fields.js';

const MODEL_KEYS = ['model_name_or_path', 'adapter_name_or_path', 'template', 'finetuning_type'];

export function ExportTab({ keys }: { keys: ConfigKeysResponse }) {
  const [values, setValues] = useState<RawConfig>({});
  const [errors, setErrors] = useState<FieldError[]>([]);
  const [result, setResult] = useState<ExportResponse | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const all = keys.groups.flatMap((g) => g.keys);
  const shownKeys = [...MODEL_KEYS.flatMap((k) => all.filter((i) => i.key === k)), ...all.filter((i) => i.group === 'export')];
  const change = (key: string, value: unknown) => setValues((v) => {
    const next = { ...v };
    if (value === null || value === '') delete next[key];
    else next[key] = value;
    return next;
  });
  const run = async () => {
    setBusy(true);
    setError(null);
    setResult(null);
    try {
      setResult(await api.exportModel(values));
      setErrors([]);
    } catch (e) {
      if (e instanceof ApiFailure) setErrors(e.fields);
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="card">
      <h2>{t('export')}</h2>
      <div class="keys">
        {shownKeys.map((info) => <Field info={info} values={values} errors={errors} onChange={change} />)}
      </div>
      <div class="row">
        <button class="primary" onClick={run} disabled={busy} data-testid="export-run">{busy ? t('exporting') : t('runExport')}</button>
        {error !== null && <span class="error" data-testid="export-error">{error}</span>}
      </div>
      {result !== null && (
        <div data-testid="export-result">
          <p class="ok">{t('exportedTo', { dir: result.dir })}</p>
          <ul>{result.files.map((f) => <li><code>{f}</code></li>)}</ul>
          <pre class="log">{result.output}</pre>
        </div>
      )}
    </section>
  );
}

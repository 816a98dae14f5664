// Evaluate & Predict: offered when the server has them; until then the tab says so.
import { useEffect, useState } from 'preact/hooks';
import { api, errorText, type FeatureStatus } from './api.js';
import { t } from './i18n/index.js';

export function EvaluateTab() {
  const [features, setFeatures] = useState<FeatureStatus | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api.features().then(setFeatures).catch((e) => setError(errorText(e)));
  }, []);
  return (
    <section class="card" data-testid="evaluate">
      <h2>{t('evaluate')}</h2>
      {error !== null && <p class="error">{error}</p>}
      {features !== null && (
        <ul>
          <li><b>{t('evalFeature')}</b>: {features.eval.available ? t('available') : t('notYetAvailable')} <span class="muted">{features.eval.message}</span></li>
          <li><b>{t('predictFeature')}</b>: {features.predict.available ? t('available') : t('notYetAvailable')} <span class="muted">{features.predict.message}</span></li>
        </ul>
      )}
    </section>
  );
}

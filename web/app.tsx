// The Retune Board: header with the language switch, and the Train / Runs / Chat / Evaluate & Predict / Export tabs.
import { useEffect, useState } from 'preact/hooks';
import { api, errorText, type ConfigKeysResponse, type InfoResponse } from './api.js';
import { ChatTab } from './chat-tab.js';
import { EvaluateTab } from './evaluate-tab.js';
import { ExportTab } from './export-tab.js';
import { initialLang, languageNames, setLang, t, type Lang } from './i18n/index.js';
import { RunsTab } from './runs-tab.js';
import { TrainTab } from './train/train-tab.js';

type Tab = 'train' | 'runs' | 'chat' | 'evaluate' | 'export';
const TABS: Tab[] = ['train', 'runs', 'chat', 'evaluate', 'export'];

export function App() {
  const [lang, setLangState] = useState<Lang>(() => {
    const l = initialLang();
    setLang(l);
    return l;
  });
  const [tab, setTab] = useState<Tab>('train');
  const [info, setInfo] = useState<InfoResponse | null>(null);
  const [keys, setKeys] = useState<ConfigKeysResponse | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [openDir, setOpenDir] = useState<{ dir: string } | null>(null);
  useEffect(() => {
    Promise.all([api.info(), api.keys()]).then(([i, k]) => {
      setInfo(i);
      setKeys(k);
    }).catch((e) => setError(errorText(e)));
  }, []);
  const switchLang = (l: Lang) => {
    setLang(l);
    setLangState(l);
  };
  return (
    <>
      <header>
        <h1>{t('title')}</h1>
        <span class="muted">{info !== null ? `retune ${info.version} · ${info.root}` : ''}</span>
        <span class="spacer" />
        <label>{t('language')}{' '}
          <select name="lang" value={lang} onChange={(e) => switchLang(e.currentTarget.value as Lang)}>
            {(Object.keys(languageNames) as Lang[]).map((l) => <option value={l}>{languageNames[l]}</option>)}
          </select>
        </label>
      </header>
      <nav class="tabs">
        {TABS.map((name) => (
          <button class={tab === name ? 'active' : ''} data-tab={name} onClick={() => setTab(name)}>{t(`tab.${name}` as const)}</button>
        ))}
      </nav>
      <main>
        {error !== null && <p class="error">{error}</p>}
        {info !== null && keys !== null && (
          <>
            <div hidden={tab !== 'train'}>
              <TrainTab key={openDir?.dir ?? ''} info={info} keys={keys} openDir={openDir?.dir ?? null} />
            </div>
            {tab === 'runs' && <RunsTab onOpen={(dir) => {
              setOpenDir({ dir });
              setTab('train');
            }} />}
            <div hidden={tab !== 'chat'}><ChatTab /></div>
            <div hidden={tab !== 'evaluate'}><EvaluateTab keys={keys} active={tab === 'evaluate'} /></div>
            <div hidden={tab !== 'export'}><ExportTab keys={keys} /></div>
          </>
        )}
        {info === null && error === null && <p class="muted">{t('loading')}</p>}
      </main>
    </>
  );
}

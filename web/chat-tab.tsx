// Chat: load a model (+ adapters, template) or a run's output dir, stream replies, system prompt and sampling
// settings, stop a reply, clear the history, unload to free memory.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiFailure, chatReply, errorText, type ChatMessage, type ChatStatus } from './api.js';
import { t } from './i18n/index.js';

interface Sampling {
  max_new_tokens: number;
  do_sample: boolean;
  temperature: number;
  top_p: number;
  top_k: number;
  repetition_penalty: number;
}

function NumberInput({ name, value, onChange }: { name: string; value: number; onChange: (v: number) => void }) {
  return (
    <label class="field"><span class="name">{name}</span>
      <input name={name} value={String(value)} onChange={(e) => {
        const n = Number(e.currentTarget.value);
        if (Number.isFinite(n)) onChange(n);
      }} /></label>
  );
}

export function ChatTab() {
  const [status, setStatus] = useState<ChatStatus | null>(null);
  const [load, setLoad] = useState({ dir: '', model: '', adapter: '', template: '' });
  const [system, setSystem] = useState('');
  const [sampling, setSampling] = useState<Sampling>({
    max_new_tokens: 128, do_sample: false, temperature: 0.95, top_p: 0.7, top_k: 50, repetition_penalty: 1,
  });
  const [history, setHistory] = useState<ChatMessage[]>([]);
  const [partial, setPartial] = useState<string | null>(null);
  const [input, setInput] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const logRef = useRef<HTMLDivElement>(null);
  const [unavailable, setUnavailable] = useState(false);
  useEffect(() => {
    api.chatStatus().then(setStatus).catch((e) => {
      if (e instanceof ApiFailure && e.status === 404) setUnavailable(true); // a server without the chat routes
      else setError(errorText(e));
    });
  }, []);
  useEffect(() => logRef.current?.scrollTo(0, logRef.current.scrollHeight), [history, partial]);

  const guard = async (fn: () => Promise<void>) => {
    setError(null);
    setBusy(true);
    try {
      await fn();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  const doLoad = () => guard(async () => {
    setStatus(await api.chatLoad(load.dir !== '' ? { dir: load.dir } : {
      model_name_or_path: load.model,
      ...(load.adapter !== '' ? { adapter_name_or_path: load.adapter } : {}),
      ...(load.template !== '' ? { template: load.template } : {}),
    }));
  });
  const unload = () => guard(async () => setStatus(await api.chatUnload()));
  const send = () => guard(async () => {
    if (input.trim() === '') return;
    const messages: ChatMessage[] = [...history, { role: 'user', content: input }];
    setHistory(messages);
    setInput('');
    setPartial('');
    let reply = '';
    try {
      await chatReply({ messages, ...(system !== '' ? { system } : {}), ...sampling }, (event) => {
        if (event.type === 'token') setPartial((reply += event.text));
        else if (event.type === 'done') reply = event.text;
        else throw new Error(event.error);
      });
    } finally {
      setPartial(null);
      if (reply !== '') setHistory([...messages, { role: 'assistant', content: reply }]);
    }
  });
  const set = (key: keyof typeof load) => (e: Event) => setLoad({ ...load, [key]: (e.currentTarget as HTMLInputElement).value });
  const num = (key: keyof Sampling) => (v: number) => setSampling({ ...sampling, [key]: v });

  if (unavailable) return <section class="card" data-testid="chat-unavailable"><p class="muted">{t('chatUnavailable')}</p></section>;
  return (
    <div>
      <section class="card">
        <h2>{t('chatModel')}</h2>
        <div class="row">
          <label class="field grow"><span class="name">{t('runDir')}</span>
            <input name="chat-dir" value={load.dir} onInput={set('dir')} placeholder="saves/my-run" /></label>
          <span class="muted">{t('or')}</span>
          <label class="field grow"><span class="name">model_name_or_path</span>
            <input name="chat-model" value={load.model} onInput={set('model')} /></label>
          <label class="field"><span class="name">adapter_name_or_path</span>
            <input name="chat-adapter" value={load.adapter} onInput={set('adapter')} /></label>
          <label class="field"><span class="name">template</span>
            <input name="chat-template" value={load.template} onInput={set('template')} /></label>
        </div>
        <div class="row" style={{ marginTop: '8px' }}>
          <button class="primary" onClick={doLoad} disabled={busy} data-testid="chat-load">{t('loadModel')}</button>
          <button onClick={unload} disabled={busy || status?.loaded !== true} data-testid="chat-unload">{t('unloadModel')}</button>
          <span data-testid="chat-status" class={status?.loaded === true ? 'ok' : 'muted'}>
            {status?.loaded === true
              ? t('chatLoaded', { model: status.model ?? '', adapters: status.adapters.join(', ') || '—', template: status.template ?? '—' })
              : t('chatNotLoaded')}
          </span>
        </div>
      </section>
      <section class="card">
        <h2>{t('chat')}</h2>
        <div class="row">
          <label class="field grow"><span class="name">{t('systemPrompt')}</span>
            <input name="chat-system" value={system} onInput={(e) => setSystem(e.currentTarget.value)} /></label>
          <NumberInput name="max_new_tokens" value={sampling.max_new_tokens} onChange={num('max_new_tokens')} />
          <label class="field"><span class="name">do_sample</span>
            <input type="checkbox" checked={sampling.do_sample}
              onChange={(e) => setSampling({ ...sampling, do_sample: e.currentTarget.checked })} /></label>
          <NumberInput name="temperature" value={sampling.temperature} onChange={num('temperature')} />
          <NumberInput name="top_p" value={sampling.top_p} onChange={num('top_p')} />
          <NumberInput name="top_k" value={sampling.top_k} onChange={num('top_k')} />
          <NumberInput name="repetition_penalty" value={sampling.repetition_penalty} onChange={num('repetition_penalty')} />
        </div>
        <div class="chat-log" ref={logRef} data-testid="chat-log">
          {history.map((m) => <div class={`msg ${m.role}`} data-role={m.role}>{m.content}</div>)}
          {partial !== null && <div class="msg assistant" data-role="partial">{partial}▍</div>}
        </div>
        <div class="row" style={{ marginTop: '8px' }}>
          <div class="grow"><textarea name="chat-input" rows={2} value={input} onInput={(e) => setInput(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && !e.shiftKey) {
                e.preventDefault();
                void send();
              }
            }} /></div>
          <button class="primary" onClick={send} disabled={busy || status?.loaded !== true}>{t('send')}</button>
          <button onClick={() => api.chatStop().catch((e) => setError(errorText(e)))} disabled={partial === null}>{t('stop')}</button>
          <button onClick={() => setHistory([])} disabled={busy}>{t('clear')}</button>
        </div>
        {error !== null && <p class="error" data-testid="chat-error">{error}</p>}
      </section>
    </div>
  );
}

// The page's calls to its server, typed by the server's contract (src/server/webui/api-types.ts).
import type {
  ApiError, ChatEvent, ChatLoadRequest, ChatReplyRequest, ChatStatus, CommandResponse, ConfigKeysResponse,
  ControlRequest, ControlResponse, DatasetPreviewRequest, DatasetPreviewResponse, DatasetsResponse, EvalEvent,
  EvalResults, EvalStartRequest, EvalStatus, ExportResponse, FieldError, InfoResponse, LoadConfigResponse, LrCurves,
  ModelInfo, PlanResponse, RawConfig, RunDetail, RunEvent, RunsResponse, RunStatusResponse, SaveConfigResponse,
  StartResponse, ValidateResponse,
} from '../src/server/webui/api-types.js';

export type * from '../src/server/webui/api-types.js';

// A non-2xx answer: the server's message (the CLI's) and its per-key problems.
export class ApiFailure extends Error {
  readonly fields: FieldError[];
  readonly status: number;
  constructor(status: number, body: ApiError) {
    super(body.error);
    this.status = status;
    this.fields = body.fields ?? [];
  }
}

async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    data = { error: text };
  }
  if (!res.ok) throw new ApiFailure(res.status, data as ApiError);
  return data as T;
}

const q = (v: string) => encodeURIComponent(v);
const post = <T>(path: string, body: unknown) => call<T>('POST', path, body);

export const api = {
  info: () => call<InfoResponse>('GET', '/api/info'),
  keys: () => call<ConfigKeysResponse>('GET', '/api/config/keys'),
  validate: (config: RawConfig) => post<ValidateResponse>('/api/config/validate', { config }),
  loadConfig: (path: string) => post<LoadConfigResponse>('/api/config/load', { path }),
  saveConfig: (path: string, config: RawConfig) => post<SaveConfigResponse>('/api/config/save', { path, config }),
  command: (config: RawConfig) => post<CommandResponse>('/api/config/command', { config }),
  model: (path: string) => call<ModelInfo>('GET', `/api/model?path=${q(path)}`),
  datasets: (dir: string) => call<DatasetsResponse>('GET', `/api/datasets?dir=${q(dir)}`),
  preview: (req: DatasetPreviewRequest) => post<DatasetPreviewResponse>('/api/datasets/preview', req),
  runs: () => call<RunsResponse>('GET', '/api/runs'),
  run: (dir: string) => call<RunDetail>('GET', `/api/runs/detail?dir=${q(dir)}`),
  plan: (config: RawConfig) => post<PlanResponse>('/api/runs/plan', { config }),
  start: (config: RawConfig) => post<StartResponse>('/api/runs/start', { config }),
  stop: (dir: string) => post<RunStatusResponse>('/api/runs/stop', { dir }),
  abort: (dir: string) => post<RunStatusResponse>('/api/runs/abort', { dir }),
  control: (req: ControlRequest) => post<ControlResponse>('/api/runs/control', req),
  runLr: (dir: string) => call<LrCurves>('GET', `/api/runs/lr?dir=${q(dir)}`),
  chatStatus: () => call<ChatStatus>('GET', '/api/chat'),
  chatLoad: (req: ChatLoadRequest) => post<ChatStatus>('/api/chat/load', req),
  chatStop: () => post<ChatStatus>('/api/chat/stop', {}),
  chatUnload: () => post<ChatStatus>('/api/chat/unload', {}),
  exportModel: (config: RawConfig) => post<ExportResponse>('/api/export', { config }),
  evalStart: (req: EvalStartRequest) => post<StartResponse>('/api/evaluate/start', req),
  evalStop: (dir: string) => post<EvalStatus>('/api/evaluate/stop', { dir }),
  evalResults: (dir: string) => call<EvalResults>('GET', `/api/evaluate/results?dir=${q(dir)}`),
};

function follow<E>(url: string, types: string[], onEvent: (event: E) => void): () => void {
  const source = new EventSource(url);
  const handle = (e: MessageEvent<string>) => onEvent(JSON.parse(e.data) as E);
  for (const type of types) source.addEventListener(type, handle as EventListener);
  return () => source.close();
}

// Follows a run's events; returns the function that closes the stream.
export function followRun(dir: string, onEvent: (event: RunEvent) => void): () => void {
  return follow(`/api/runs/events?dir=${q(dir)}`, ['reset', 'row', 'log', 'status'], onEvent);
}

// Follows an Evaluate & Predict run's console and status.
export function followEval(dir: string, onEvent: (event: EvalEvent) => void): () => void {
  return follow(`/api/evaluate/events?dir=${q(dir)}`, ['log', 'status'], onEvent);
}

// Streams a chat reply (server-sent events over a POST, read from the response body).
export async function chatReply(req: ChatReplyRequest, onEvent: (event: ChatEvent) => void): Promise<void> {
  const res = await fetch('/api/chat/reply', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(req),
  });
  if (!res.ok || res.body === null) {
    const text = await res.text();
    let message = text;
    try {
      message = (JSON.parse(text) as ApiError).error;
    } catch { /* plain text body */ }
    throw new ApiFailure(res.status, { error: message });
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let cut: number;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
      if (data !== '') onEvent(JSON.parse(data) as ChatEvent);
    }
  }
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

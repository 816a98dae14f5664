// The HTTP contract between the Retune Board page (web/) and its server (src/server/webui/). Types only: the page
// imports them with `import type`, so nothing here may hold a value. Extend, never change a shape in place.
//
// Paths: every path in a request is a string the server resolves against --root (relative, or absolute inside it);
// after resolving `..` and symlinks it must lie under the root, else 403. Paths in responses are relative to the
// root ('.' for the root itself), '/'-separated.
// Errors: any non-2xx answer has an ApiError body. Config problems come back as 400 with `fields`.
// Security: with a token (non-loopback host), every request carries it as the `retune_token` cookie (set when the page
// is opened with ?token=...) or the `x-retune-token` header. POST requests must come from the page's own Origin.
//
// Route table (all JSON unless noted):
//   GET  /                         the built page (dist/web/index.html), or a "page not built" text
//   GET  /assets/*                 the page's bundled files (dist/web/assets/)
//   GET  /api/info                 -> InfoResponse
//   GET  /api/config/keys          -> ConfigKeysResponse         form metadata of every config key
//   POST /api/config/validate      ConfigRequest -> ValidateResponse (200 even when invalid: ok false + fields)
//   POST /api/config/load          PathRequest -> LoadConfigResponse   a YAML file under the root
//   POST /api/config/save          SaveConfigRequest -> SaveConfigResponse
//   POST /api/config/command       ConfigRequest -> CommandResponse     the exact `retune train` line
//   GET  /api/model?path=P         -> ModelInfo
//   GET  /api/datasets?dir=D       -> DatasetsResponse               dataset_dir/dataset_info.json
//   POST /api/datasets/preview     DatasetPreviewRequest -> DatasetPreviewResponse
//   GET  /api/runs                 -> RunsResponse                   every run under the root
//   GET  /api/runs/detail?dir=D    -> RunDetail                      config, checkpoints, log rows of one output dir
//   POST /api/runs/plan            ConfigRequest -> PlanResponse     fresh plan or resume plan (the CLI's planner)
//   POST /api/runs/start           ConfigRequest -> StartResponse    writes D/training_args.yaml, spawns retune train
//   POST /api/runs/stop            RunRequest -> RunStatusResponse   SIGTERM: saves a checkpoint, resumable
//   POST /api/runs/abort           RunRequest -> RunStatusResponse   SIGKILL
//   POST /api/runs/control         ControlRequest -> ControlResponse live LR change (control.jsonl)
//   GET  /api/runs/events?dir=D    text/event-stream of RunEvent     (EventSource; replays the log first)
//   GET  /api/chat                 -> ChatStatus
//   POST /api/chat/load            ChatLoadRequest -> ChatStatus
//   POST /api/chat/reply           ChatReplyRequest -> text/event-stream of ChatEvent (read with fetch, not EventSource)
//   POST /api/chat/stop            {} -> ChatStatus                 ends the reply being generated
//   POST /api/chat/unload          {} -> ChatStatus
//   GET  /api/runs/lr?dir=D        -> LrCurves                       planned LR of a run this server started, after live changes
//   POST /api/export               ConfigRequest -> ExportResponse   runs `retune export` as a child process
//   POST /api/evaluate/start       EvalStartRequest -> StartResponse writes D/eval_args.yaml, spawns retune train (do_train false)
//   POST /api/evaluate/stop        RunRequest -> EvalStatus          SIGTERM
//   GET  /api/evaluate/events?dir=D text/event-stream of EvalEvent  (EventSource; console lines so far first)
//   GET  /api/evaluate/results?dir=D -> EvalResults                 eval_results.json, predict_results.json, predictions

export interface ApiError {
  error: string; // the CLI's message
  fields?: FieldError[];
}

export interface FieldError {
  key: string; // config key ('' when the problem is not about one key)
  message: string; // the CLI's message after its location, e.g. 'learning_rate: expected a number, got "fast"'
}

export interface InfoResponse {
  version: string;
  root: string; // absolute path of --root
  tokenRequired: boolean;
  stages: { name: string; available: boolean }[]; // every stage of the schema; ppo shown as not yet available
}

// ---- config ----

// A config as the user edits it: key -> value as YAML would hold it (numbers, booleans, strings, lists, mappings).
// Keys left out take their defaults.
export type RawConfig = Record<string, unknown>;

export interface KeyInfo {
  key: string;
  group: string; // model | data | finetuning | training | generating | export | resume
  type: string; // int, number, boolean, string, comma list, mapping, string|list, or choices a|b|c
  choices: string[] | null; // for enums
  default: unknown; // before cross-key resolution; null = unset
  min: number | null;
  max: number | null;
  exclusiveMin: boolean; // min itself is not allowed (numbers only)
  exclusiveMax: boolean;
  nullable: boolean; // null (unset) is a valid value
  description: string;
  resumeClass: string; // the resume planner's class of the key (src/config/schema.ts)
  ineffective: boolean; // accepted for LLaMA-Factory configs, no effect on this engine
  lfStatus: string; // accepted (LLaMA-Factory's key, same meaning) | ignored | refused | retune (Retune's own key)
}

export interface ConfigKeysResponse {
  groups: { name: string; keys: KeyInfo[] }[]; // in `retune train --help` order
}

export interface ConfigRequest {
  config: RawConfig;
}

export interface ValidateResponse {
  ok: boolean;
  fields: FieldError[];
  resolved: RawConfig | null; // every key with defaults applied, when ok
  notices: string[];
}

export interface PathRequest {
  path: string;
}

export interface LoadConfigResponse {
  path: string;
  config: RawConfig; // the keys the file sets, as written
  fields: FieldError[]; // problems of its values (the form shows them next to the fields)
}

export interface SaveConfigRequest {
  path: string; // .yaml file under the root; written atomically in training_args.yaml form
  config: RawConfig;
}

export interface SaveConfigResponse {
  path: string;
}

export interface CommandResponse {
  argv: string[]; // ['retune', 'train', '<output_dir>/training_args.yaml']
  command: string; // the same, quoted for a POSIX shell
  yaml: string; // what Start writes to <output_dir>/training_args.yaml
}

// ---- model and data ----

export interface ModelInfo {
  path: string;
  family: string; // model_type of config.json: llama, qwen2, qwen3, mistral
  architecture: string | null;
  parameters: number; // counted from the safetensors headers
  dtype: string; // torch_dtype of config.json, else the weights' dtype
  contextLength: number; // max_position_embeddings
  layers: number;
  hiddenSize: number;
  vocabSize: number;
  template: string | null; // LLaMA-Factory's guess from the model name, null when none matches
  hasChatTemplate: boolean; // tokenizer_config.json carries a chat_template
}

export interface DatasetEntry {
  name: string;
  formatting: string; // alpaca | sharegpt
  file: string | null;
  ranking: boolean;
  kind: 'pt' | 'sft' | 'other'; // what the columns say it is for
}

export interface DatasetsResponse {
  dir: string;
  datasets: DatasetEntry[];
}

export interface DatasetPreviewRequest {
  config: RawConfig; // model_name_or_path, dataset_dir, template, cutoff_len, ... as the form holds them
  dataset: string; // one name of dataset_info.json
  rows?: number; // default 5, at most 50
}

export interface PreviewTurn {
  role: 'system' | 'user' | 'assistant' | 'function' | 'observation' | 'tool';
  content: string;
}

export interface PreviewRow {
  system: string;
  turns: PreviewTurn[]; // prompt turns then the response
  tokens: number | null; // under the chosen template (null without a model/tokenizer)
  trainedTokens: number | null; // tokens with a label (not -100)
}

export interface DatasetPreviewResponse {
  dataset: string;
  total: number; // rows in the file
  rows: PreviewRow[];
  template: string | null;
}

// ---- runs ----

export type RunState = 'running' | 'finished' | 'stopped' | 'failed' | 'empty';

export interface RunSummary {
  dir: string; // output dir relative to the root
  state: RunState;
  step: number; // last logged step (0 when none)
  totalSteps: number | null;
  message: string; // 'finished at step 60', 'stopped at step 25', 'failed: ...'
  startedByServer: boolean;
  pid: number | null;
  updated: string; // ISO time of the last log write
  loss: { step: number; loss: number }[]; // training loss series for multi-run charts
}

export interface RunsResponse {
  runs: RunSummary[];
}

export interface CheckpointInfo {
  name: string; // checkpoint-25
  step: number;
  time: string; // ISO mtime of its manifest
  loss: number | null; // the logged loss at (or last before) that step
  verified: boolean;
  reason: string | null; // why it does not verify
  weightsOnly: boolean;
}

// One trainer_log.jsonl row, as the trainer writes it (src/train/logging.ts): steps carry loss/lr/grad_norm, evals
// eval_loss, events an `event` name (resume, saved, skipped_step, lr_change, ...).
export type LogRow = Record<string, unknown> & { current_steps: number };

export interface RunDetail {
  summary: RunSummary;
  config: RawConfig | null; // <dir>/training_args.yaml
  checkpoints: CheckpointInfo[]; // newest first
  rows: LogRow[];
}

export interface RunRequest {
  dir: string;
}

export interface StartResponse {
  dir: string;
  pid: number;
  argv: string[];
}

export interface RunStatusResponse {
  summary: RunSummary;
}

export interface ControlRequest {
  dir: string;
  lr: number; // the new learning rate
  ramp?: number; // steps of a linear ramp from the current LR (0 or absent: at once)
}

export interface ControlResponse {
  id: string; // acknowledged by a trainer_log row { event: 'lr_change', id, ... } at the next optimizer step
}

// ---- plan ----

export interface LrPoint {
  step: number; // optimizer steps done; the point is the LR of step `step + 1`
  lr: number;
}

export interface PlanRowJson {
  field: string;
  old: unknown;
  new: unknown;
  kind: string;
  effect: string;
}

export interface PlanResponse {
  kind: 'fresh' | 'resume';
  text: string; // the plan exactly as `retune train --dry-run` prints it
  checkpoint: string | null;
  step: number; // steps already done
  totalSteps: number;
  policy: string;
  lrMode: string;
  refusal: string | null; // set: Start is refused with this message
  finished: boolean;
  rows: PlanRowJson[]; // changes that affect the math
  info: PlanRowJson[]; // bookkeeping changes
  cursor: { epoch: number; consumed: number; datasetSize: number; datasetChanged: boolean };
  effectiveBatch: { old: number; new: number };
  resetOptimizer: boolean;
  segments: { start: number; mode: string; baseLr: number; rampSteps: number }[]; // the LR history
  lr: LrCurves;
}

export interface LrCurves {
  done: LrPoint[]; // the steps already run
  planned: LrPoint[]; // the steps to come
  changeAt: number | null; // step where the plan's new segment starts
}

// ---- server-sent events of a run (GET /api/runs/events?dir=D) ----

export type RunEvent =
  | { type: 'reset' } // the log was rewritten (a resume dropped rows after its checkpoint): rows follow again
  | { type: 'row'; row: LogRow } // one trainer_log.jsonl row (all existing rows first, then live ones)
  | { type: 'log'; stream: 'stdout' | 'stderr'; line: string } // console of a run this server started
  | { type: 'status'; summary: RunSummary }; // on connect and whenever the state changes
// Sent as `event: <type>` + `data: <json of the whole RunEvent>`.

// ---- chat ----

export interface ChatLoadRequest {
  model_name_or_path?: string;
  adapter_name_or_path?: string; // comma list
  template?: string;
  dir?: string; // a run's output dir: its training_args.yaml gives model and template, its weights the adapter
}

export interface ChatStatus {
  loaded: boolean;
  busy: boolean; // a reply is being generated
  model: string | null;
  adapters: string[];
  template: string | null;
}

export interface ChatMessage {
  role: 'user' | 'assistant';
  content: string;
}

export interface ChatReplyRequest {
  messages: ChatMessage[]; // history, ending with the user's turn
  system?: string;
  max_new_tokens?: number;
  do_sample?: boolean;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  repetition_penalty?: number;
}

export type ChatEvent =
  | { type: 'token'; text: string } // printable text appended to the reply
  | { type: 'done'; text: string; stopped: boolean } // the whole reply
  | { type: 'error'; error: string };

// ---- export / evaluate ----

export interface ExportResponse {
  dir: string; // export_dir relative to the root
  files: string[];
  output: string; // what `retune export` printed
}

// An Evaluate & Predict run: `retune train <output_dir>/eval_args.yaml` with do_train false and do_eval and/or
// do_predict; its results are the CLI's files in output_dir.
export interface EvalStartRequest {
  config: RawConfig; // do_train false; do_eval / do_predict, eval_dataset, generating keys, output_dir (the results)
  run?: string; // a run's output dir: its base model, adapter and template replace the config's
}

export type EvalPart = 'eval' | 'predict';

export interface EvalStatus {
  dir: string; // output_dir of the results
  state: 'running' | 'finished' | 'stopped' | 'failed' | 'idle'; // idle: this server ran nothing there
  message: string; // the CLI's message when failed
  parts: EvalPart[]; // what the run was asked for
  done: EvalPart[]; // parts whose results it has written
  argv: string[];
}

export type EvalEvent =
  | { type: 'log'; stream: 'stdout' | 'stderr'; line: string }
  | { type: 'status'; status: EvalStatus };

export interface PredictionRow {
  prompt: string;
  predict: string;
  label: string;
}

export interface EvalResults {
  dir: string;
  eval: Record<string, number> | null; // eval_results.json: eval_loss, perplexity, eval_runtime, ...
  predict: Record<string, number> | null; // predict_results.json: predict_bleu-4, predict_rouge-1/2/l, ...
  predictions: PredictionRow[]; // the first rows of generated_predictions.jsonl
  predictionCount: number; // rows in the file
}

// Continuous batching over one model: requests wait in a bounded queue, up to `maxBatch` sequences decode together
// (one batched forward per step, each sequence with its own KV cache and sampler), new requests join as soon as
// slots are free (the prompts of those joining together run in one packed forward first), and a finished, stopped
// or aborted one leaves at once. Each step yields to the event loop, so a server keeps answering and streaming while
// the model works.
import { RetuneError, UsageError } from '../util/errors.js';
import { noGrad } from '../tensor/autograd.js';
import { KVCache, SequenceBatch, TokenPicker, type CausalLM, type SamplingOptions } from '../model/index.js';

export interface DecodeRequest {
  promptIds: number[];
  maxNewTokens: number;
  sampling: SamplingOptions;
  stopIds: number[]; // the stop token ends the sequence and is not returned
  onToken?: (id: number) => boolean | void; // false: the caller saw enough (a stop string), end after this token
  signal?: AbortSignal; // aborting frees the slot before the next step
}

export type FinishReason = 'stop' | 'length' | 'aborted';

export interface DecodeResult {
  ids: number[];
  finishReason: FinishReason;
}

// Prompt tokens one prefill forward takes at most (a longer prompt runs alone): bounds its activations.
const kPrefillTokens = 4096;

// The queue is full: the caller should retry later (HTTP 429).
export class QueueFullError extends RetuneError {}

export interface SchedulerOptions {
  maxBatch?: number; // sequences decoded together (default 8)
  maxQueue?: number; // requests waiting for a slot before new ones are refused (default 64)
}

interface Sequence {
  req: DecodeRequest;
  picker: TokenPicker;
  stop: Set<number>;
  cache: KVCache;
  ids: number[];
  finished: boolean;
  resolve: (r: DecodeResult) => void;
  reject: (err: unknown) => void;
}

export class Scheduler {
  readonly maxBatch: number;
  readonly maxQueue: number;
  private readonly waiting: Sequence[] = [];
  private active: Sequence[] = [];
  private running = false;

  constructor(
    private readonly model: CausalLM,
    opts: SchedulerOptions = {},
  ) {
    this.maxBatch = opts.maxBatch ?? 8;
    this.maxQueue = opts.maxQueue ?? 64;
    if (!(Number.isInteger(this.maxBatch) && this.maxBatch > 0)) throw new UsageError(`maxBatch must be a positive integer, got ${this.maxBatch}`);
    if (!(Number.isInteger(this.maxQueue) && this.maxQueue >= 0)) throw new UsageError(`maxQueue must be a non-negative integer, got ${this.maxQueue}`);
  }

  // Sequences decoding now and waiting for a slot.
  get load(): { active: number; waiting: number } {
    return { active: this.active.length, waiting: this.waiting.length };
  }

  // Checks the request at once (UsageError for bad options, QueueFullError when full), then resolves when it ends.
  submit(req: DecodeRequest): Promise<DecodeResult> {
    const limit = this.model.config.max_position_embeddings;
    if (req.promptIds.length + req.maxNewTokens > limit) {
      throw new UsageError(`the prompt is ${req.promptIds.length} tokens and ${req.maxNewTokens} new tokens were asked for, ` +
        `${req.promptIds.length + req.maxNewTokens} in all; the model's context is ${limit} tokens`);
    }
    const picker = new TokenPicker(this.model, req.promptIds, { ...req.sampling, maxNewTokens: req.maxNewTokens });
    if (this.waiting.length >= this.maxQueue + Math.max(0, this.maxBatch - this.active.length)) {
      throw new QueueFullError(`the server is busy: ${this.active.length} requests decoding and ${this.waiting.length} waiting; retry later`);
    }
    const { num_hidden_layers: nLayers, num_key_value_heads: nKV, head_dim: hd } = this.model.config;
    return new Promise((resolve, reject) => {
      const seq: Sequence = {
        req, picker, stop: new Set(req.stopIds), cache: new KVCache({ nLayers, B: 1, nKV, hd }), ids: [], finished: false,
        resolve, reject,
      };
      if (req.signal?.aborted) return this.finish(seq, 'aborted');
      req.signal?.addEventListener('abort', () => this.finish(seq, 'aborted'), { once: true });
      if (req.maxNewTokens === 0) return this.finish(seq, 'length');
      this.waiting.push(seq);
      // The loop starts on a later turn, so no token is handed out before submit() has returned.
      if (!this.running) {
        this.running = true;
        setImmediate(() => void this.loop());
      }
    });
  }

  private async loop(): Promise<void> {
    try {
      while (this.waiting.length > 0 || this.active.length > 0) {
        try {
          this.admit();
          this.active = this.active.filter((s) => !s.finished);
          if (this.active.length > 0) this.decodeStep();
        } catch (err) {
          for (const s of [...this.active, ...this.waiting.splice(0)]) this.fail(s, err);
          this.active = [];
        }
        this.active = this.active.filter((s) => !s.finished);
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      this.running = false;
    }
  }

  // Fills free slots from the queue: the newcomers' prompts run together in one packed forward (SequenceBatch), up
  // to kPrefillTokens tokens unless one prompt alone is longer, and each gives its first token.
  private admit(): void {
    const free = this.maxBatch - this.active.filter((s) => !s.finished).length;
    const newcomers: Sequence[] = [];
    let tokens = 0;
    while (newcomers.length < free && this.waiting.length > 0) {
      const length = this.waiting[0].req.promptIds.length;
      if (newcomers.length > 0 && tokens + length > kPrefillTokens) break;
      newcomers.push(this.waiting.shift() as Sequence);
      tokens += length;
    }
    if (newcomers.length === 0) return;
    this.active.push(...newcomers);
    const ids = Int32Array.from(newcomers.flatMap((s) => s.req.promptIds));
    const batch = new SequenceBatch(newcomers.map((s) => s.cache), newcomers.map((s) => s.req.promptIds.length));
    const V = this.model.config.vocab_size;
    const logits = noGrad(() => this.model.forward(ids, batch.B, ids.length / batch.B, { cache: batch, rows: batch.lastRows() })).data; // (R, 1, V)
    newcomers.forEach((s, i) => this.accept(s, s.picker.pick(logits.subarray(i * V, (i + 1) * V))));
  }

  // One token for every active sequence in one forward.
  private decodeStep(): void {
    const batch = this.active;
    const B = batch.length;
    const V = this.model.config.vocab_size;
    const ids = Int32Array.from(batch, (s) => s.ids[s.ids.length - 1]);
    const cache = new SequenceBatch(batch.map((s) => s.cache));
    const logits = noGrad(() => this.model.forward(ids, B, 1, { cache, lastLogits: true })).data; // (B, 1, V)
    for (let b = 0; b < B; b++) {
      if (!batch[b].finished) this.accept(batch[b], batch[b].picker.pick(logits.subarray(b * V, (b + 1) * V)));
    }
  }

  private accept(seq: Sequence, id: number): void {
    if (seq.finished) return;
    if (seq.stop.has(id)) return this.finish(seq, 'stop');
    seq.ids.push(id);
    if (seq.req.onToken?.(id) === false) return this.finish(seq, 'stop');
    if (seq.ids.length >= seq.req.maxNewTokens) this.finish(seq, 'length');
  }

  private finish(seq: Sequence, finishReason: FinishReason): void {
    if (seq.finished) return;
    seq.finished = true;
    const queued = this.waiting.indexOf(seq);
    if (queued >= 0) this.waiting.splice(queued, 1);
    seq.resolve({ ids: seq.ids, finishReason });
  }

  private fail(seq: Sequence, err: unknown): void {
    if (seq.finished) return;
    seq.finished = true;
    seq.reject(err);
  }
}

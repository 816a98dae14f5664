// Attention of new queries over a KV cache, for generation. The Tq queries are the last Tq of Tk positions, so query
// i, at position p = Tk-Tq+i, sees keys 0..p, or with a sliding window only those after p - window. Each batch row
// is one backend call over that row's keys and values. Inference only: it records nothing and refuses inputs that
// require grad.
import { getBackend } from '../backend/index.js';
import { RetuneError } from '../util/errors.js';
import { output, willRecord } from './tape.js';
import type { Tensor } from './tensor.js';

// q (B, Tq, nHead, hd), k, v (B, Tk, nKV, hd) -> (B, Tq, nHead, hd)
export function attentionCached(q: Tensor, k: Tensor, v: Tensor, scale: number, window: number | null = null): Tensor {
  if (willRecord([q, k, v])) throw new RetuneError('attentionCached: inference only; run it under noGrad()');
  const [B, Tq, nHead, hd] = q.shape;
  const [Bk, Tk, nKV, hdK] = k.shape;
  if (q.shape.length !== 4 || k.shape.length !== 4 || Bk !== B || hdK !== hd || Tk < Tq || nHead % nKV !== 0 ||
      v.shape.some((d, i) => d !== k.shape[i])) {
    throw new RetuneError(`attentionCached: q [${q.shape.join(', ')}] does not fit k [${k.shape.join(', ')}] / v [${v.shape.join(', ')}]`);
  }
  const out = output(q.shape, false);
  const backend = getBackend();
  const qRow = Tq * nHead * hd;
  const kRow = Tk * nKV * hd;
  const args = { Tq, Tk, nHead, nKV, hd, scale, window };
  for (let b = 0; b < B; b++) {
    backend.attentionCached(
      q.data.subarray(b * qRow, (b + 1) * qRow), k.data.subarray(b * kRow, (b + 1) * kRow),
      v.data.subarray(b * kRow, (b + 1) * kRow), out.data.subarray(b * qRow, (b + 1) * qRow), args,
    );
  }
  return out;
}

// Attention of new queries over a KV cache, for generation. The Tq queries are the last Tq of Tk positions, so query
// i sees keys 0..Tk-Tq+i. Inference only: it records nothing and refuses inputs that require grad.
import { RetuneError } from '../config/errors.js';
import { output, willRecord } from './autograd.js';
import type { Tensor } from './tensor.js';

// q (B, Tq, nHead, hd), k, v (B, Tk, nKV, hd) -> (B, Tq, nHead, hd)
export function attentionCached(q: Tensor, k: Tensor, v: Tensor, scale: number): Tensor {
  if (willRecord([q, k, v])) throw new RetuneError('attentionCached: inference only; run it under noGrad()');
  const [B, Tq, nHead, hd] = q.shape;
  const [Bk, Tk, nKV, hdK] = k.shape;
  if (q.shape.length !== 4 || k.shape.length !== 4 || Bk !== B || hdK !== hd || Tk < Tq || nHead % nKV !== 0 ||
      v.shape.some((d, i) => d !== k.shape[i])) {
    throw new RetuneError(`attentionCached: q [${q.shape.join(', ')}] does not fit k [${k.shape.join(', ')}] / v [${v.shape.join(', ')}]`);
  }
  const group = nHead / nKV;
  const out = output(q.shape, false);
  const acc = new Float64Array(hd);
  const [qd, kd, vd] = [q.data, k.data, v.data];
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < Tq; i++) {
      const last = Tk - Tq + i;
      for (let h = 0; h < nHead; h++) {
        const g = Math.floor(h / group);
        const qo = ((b * Tq + i) * nHead + h) * hd;
        let m = -Infinity;
        let l = 0;
        acc.fill(0);
        for (let j = 0; j <= last; j++) {
          const ko = ((b * Tk + j) * nKV + g) * hd;
          let s = 0;
          for (let d = 0; d < hd; d++) s += qd[qo + d] * kd[ko + d];
          s *= scale;
          if (s > m) {
            const correction = Math.exp(m - s);
            l *= correction;
            for (let d = 0; d < hd; d++) acc[d] *= correction;
            m = s;
          }
          const p = Math.exp(s - m);
          l += p;
          for (let d = 0; d < hd; d++) acc[d] += p * vd[ko + d];
        }
        for (let d = 0; d < hd; d++) out.data[qo + d] = acc[d] / l;
      }
    }
  }
  return out;
}

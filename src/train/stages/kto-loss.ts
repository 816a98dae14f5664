// The KTO loss of LLaMA-Factory's CustomKTOTrainer (TRL's kto_loss): each answer is desirable or not on its own, and
// its log-ratio to the reference is compared with the KL estimate from the mismatched pairs (prompt with another
// row's answer), computed without gradient and clamped at zero. Written out with its gradient as pref-loss.ts is.

export interface KtoParams {
  beta: number;
  ftx: number;
  chosenWeight: number; // kto_chosen_weight (TRL's desirable_weight)
  rejectedWeight: number; // kto_rejected_weight
}

export interface KtoInput {
  policy: Float32Array; // (B) summed log-probs of each row's answer
  reference: Float32Array; // (B)
  klPolicy: Float32Array; // (B) the mismatched answers', under the policy (no gradient)
  klReference: Float32Array; // (B)
  desirable: boolean[]; // (B) kto_tag
  lengths: Int32Array; // (B) counted target tokens of each row
}

export interface KtoResult {
  loss: number; // mean over the rows, plus LLaMA-Factory's rescaled sft term
  grad: Float32Array; // (B) d loss / d policy
  metrics: Record<string, number>; // sums and counts: LLaMA-Factory logs ratios over the log window (ktoMetrics)
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

export function ktoLoss(p: KtoParams, input: KtoInput): KtoResult {
  const B = input.policy.length;
  let klSum = 0;
  for (let i = 0; i < B; i++) klSum += input.klPolicy[i] - input.klReference[i];
  const kl = Math.max(0, klSum / B);
  const grad = new Float32Array(B);
  const sums: Record<string, number> = {};
  const add = (k: string, v: number): void => {
    sums[k] = (sums[k] ?? 0) + v;
  };
  let loss = 0;
  let chosen = 0;
  for (let i = 0; i < B; i++) {
    const logRatio = input.policy[i] - input.reference[i];
    // 1 - sigmoid(z): its derivative in z is -s (1 - s)
    const z = input.desirable[i] ? p.beta * (logRatio - kl) : p.beta * (kl - logRatio);
    const s = sigmoid(z);
    const weight = input.desirable[i] ? p.chosenWeight : p.rejectedWeight;
    loss += weight * (1 - s);
    grad[i] = (input.desirable[i] ? -1 : 1) * weight * p.beta * s * (1 - s) / B;
    const split = input.desirable[i] ? 'chosen' : 'rejected';
    add(`rewards/${split}_sum`, p.beta * logRatio);
    add(`logps/${split}_sum`, input.policy[i]);
    add(`count/${split}`, 1);
    if (input.desirable[i]) chosen++;
  }
  loss /= B;
  // LLaMA-Factory: losses += ftx * mean(-chosen logps per token) / chosen * B
  if (p.ftx > 1e-6 && chosen > 0) {
    const scale = (p.ftx * B) / (chosen * chosen);
    for (let i = 0; i < B; i++) {
      if (!input.desirable[i]) continue;
      const len = Math.max(1, input.lengths[i]);
      loss -= (scale * input.policy[i]) / len;
      grad[i] -= scale / len;
    }
  }
  return { loss, grad, metrics: { ...sums, kl } };
}

// The logged metrics from sums over micro-batches: rewards and log-probs per answer of each kind, their margin, and
// kl as its mean over the micro-batches (LLaMA-Factory adds the micro-batches' kl up instead, so its value grows
// with gradient_accumulation_steps and logging_steps; TRL logs the mean).
export function ktoMetrics(sums: Record<string, number>, microBatches: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const split of ['chosen', 'rejected']) {
    const count = sums[`count/${split}`] ?? 0;
    if (count === 0) continue;
    out[`rewards/${split}`] = sums[`rewards/${split}_sum`] / count;
    out[`logps/${split}`] = sums[`logps/${split}_sum`] / count;
  }
  if ('rewards/chosen' in out && 'rewards/rejected' in out) out['rewards/margins'] = out['rewards/chosen'] - out['rewards/rejected'];
  out.kl = sums.kl / microBatches;
  return out;
}

// The pairwise preference losses of LLaMA-Factory's CustomDPOTrainer, as plain arithmetic over per-sequence
// log-probabilities with their gradients written out (the losses are tiny next to the forward, and float64 here keeps
// them exact to what torch computes in float32). sigmoid, hinge and ipo are TRL's dpo_loss (0.24, which LLaMA-Factory
// calls); orpo and simpo are LLaMA-Factory's own odds_ratio_loss and simpo_loss and use no reference model. ipo, orpo
// and simpo see length-averaged log-probabilities, as LLaMA-Factory's concatenated_forward hands them over; pref_ftx
// adds pref_ftx * -(chosen log-prob per token), LLaMA-Factory's sft_loss.

import { RetuneError } from '../../util/errors.js';

export type PrefLossType = 'sigmoid' | 'hinge' | 'ipo' | 'orpo' | 'simpo';

export interface PrefParams {
  loss: PrefLossType;
  beta: number;
  ftx: number;
  labelSmoothing: number;
  simpoGamma: number;
}

export interface PrefInput {
  policy: Float32Array; // (2P) summed log-probs: the P chosen sequences, then the P rejected ones
  reference: Float32Array | null; // (2P) the reference model's; null for orpo and simpo
  lengths: Int32Array; // (2P) counted target tokens of each sequence
}

export interface PrefResult {
  loss: number; // mean over the pairs
  grad: Float32Array; // (2P) d loss / d policy
  metrics: Record<string, number>;
}

export function usesReference(loss: PrefLossType): boolean {
  return loss !== 'orpo' && loss !== 'simpo';
}

function averaged(loss: PrefLossType): boolean {
  return loss === 'ipo' || loss === 'orpo' || loss === 'simpo';
}

function logSigmoid(x: number): number {
  return x < 0 ? x - Math.log1p(Math.exp(x)) : -Math.log1p(Math.exp(-x));
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

interface PairLoss {
  loss: number;
  dChosen: number; // d loss / d chosen log-prob (as the loss sees it: summed or averaged)
  dRejected: number;
}

// One pair's loss; pc, pr: policy log-probs, rc, rr: the reference's (0 when there is none).
function pairLoss(p: PrefParams, pc: number, pr: number, rc: number, rr: number): PairLoss {
  const { beta } = p;
  const logits = (pc - pr) - (rc - rr);
  switch (p.loss) {
    case 'sigmoid': {
      const z = beta * logits;
      const ls = p.labelSmoothing;
      const dz = -(1 - ls) * sigmoid(-z) + ls * sigmoid(z);
      return { loss: -(1 - ls) * logSigmoid(z) - ls * logSigmoid(-z), dChosen: beta * dz, dRejected: -beta * dz };
    }
    case 'hinge': {
      const u = 1 - beta * logits;
      const d = u > 0 ? -beta : 0;
      return { loss: Math.max(0, u), dChosen: d, dRejected: -d };
    }
    case 'ipo': {
      const d = logits - 1 / (2 * beta);
      return { loss: d * d, dChosen: 2 * d, dRejected: -2 * d };
    }
    case 'orpo': {
      // log odds(c) - log odds(r), log odds(p) = p - log(1 - e^p); d/dp log odds(p) = 1 / (1 - e^p)
      const logOdds = (pc - pr) - (Math.log1p(-Math.exp(pc)) - Math.log1p(-Math.exp(pr)));
      const dOdds = -beta * sigmoid(-logOdds);
      return {
        loss: -pc - beta * logSigmoid(logOdds),
        dChosen: -1 + dOdds / (1 - Math.exp(pc)),
        dRejected: -dOdds / (1 - Math.exp(pr)),
      };
    }
    case 'simpo': {
      const z = beta * ((pc - pr) - p.simpoGamma / beta);
      const dz = -sigmoid(-z);
      return { loss: -logSigmoid(z), dChosen: beta * dz, dRejected: -beta * dz };
    }
  }
}

export function preferenceLoss(p: PrefParams, input: PrefInput): PrefResult {
  const P = input.policy.length / 2;
  const avg = averaged(p.loss);
  const ref = usesReference(p.loss) ? input.reference : null;
  if (usesReference(p.loss) && ref === null) throw new RetuneError(`pref_loss ${p.loss} needs reference log-probs`);
  const grad = new Float32Array(2 * P);
  const sums = { loss: 0, chosen: 0, rejected: 0, accuracy: 0, margin: 0, logpChosen: 0, logpRejected: 0, sft: 0 };
  for (let i = 0; i < P; i++) {
    const [lc, lr] = [Math.max(1, input.lengths[i]), Math.max(1, input.lengths[P + i])];
    const pc = avg ? input.policy[i] / lc : input.policy[i];
    const pr = avg ? input.policy[P + i] / lr : input.policy[P + i];
    const rc = ref === null ? 0 : avg ? ref[i] / lc : ref[i];
    const rr = ref === null ? 0 : avg ? ref[P + i] / lr : ref[P + i];
    const pair = pairLoss(p, pc, pr, rc, rr);
    // LLaMA-Factory's sft_loss is minus the chosen log-prob per token, whichever form the loss saw.
    const sft = -(avg ? pc : pc / lc);
    const loss = pair.loss + (p.ftx > 1e-6 ? p.ftx * sft : 0);
    const dChosen = pair.dChosen - (p.ftx > 1e-6 ? p.ftx * (avg ? 1 : 1 / lc) : 0);
    grad[i] = (avg ? dChosen / lc : dChosen) / P;
    grad[P + i] = (avg ? pair.dRejected / lr : pair.dRejected) / P;
    const [chosenReward, rejectedReward] = [p.beta * (pc - rc), p.beta * (pr - rr)];
    sums.loss += loss;
    sums.chosen += chosenReward;
    sums.rejected += rejectedReward;
    sums.accuracy += chosenReward > rejectedReward ? 1 : 0;
    sums.margin += chosenReward - rejectedReward;
    sums.logpChosen += pc;
    sums.logpRejected += pr;
    sums.sft += sft;
  }
  const metrics: Record<string, number> = {
    'rewards/chosen': sums.chosen / P,
    'rewards/rejected': sums.rejected / P,
    'rewards/accuracies': sums.accuracy / P,
    'rewards/margins': sums.margin / P,
    'logps/chosen': sums.logpChosen / P,
    'logps/rejected': sums.logpRejected / P,
  };
  if (p.loss === 'orpo') {
    metrics.sft_loss = sums.sft / P;
    metrics.odds_ratio_loss = (sums.loss - sums.sft) / P / p.beta;
  }
  return { loss: sums.loss / P, grad, metrics };
}

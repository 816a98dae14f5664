// The loss smoothing LLaMA-Factory's plots and LlamaBoard draw, shared by training_loss.png (plot.ts) and the web
// UI's charts (web/series.ts); no Node imports, so the page's bundle can take it.
// LLaMA-Factory's smooth(): an EMA whose weight grows with the number of points (a shifted sigmoid), so short runs
// are barely smoothed and long runs strongly.
export function smooth(values: readonly number[]): number[] {
  if (values.length === 0) return [];
  const weight = 1.8 * (1 / (1 + Math.exp(-0.05 * values.length)) - 0.5);
  const smoothed: number[] = [];
  let last = values[0];
  for (const next of values) {
    last = last * weight + (1 - weight) * next;
    smoothed.push(last);
  }
  return smoothed;
}

// `retune train cfg.yaml [key=value ...] [--dry-run]`: load and check the config, say what it ignores, echo what it
// resolved to, then hand over to the trainer (src/train), which owns resume plans, checkpoints and logs.
import { checkTrainConfig, differsFromDefault, loadConfig, type LoadedConfig } from '../config/load.js';
import { configGroups, type RetuneConfig } from '../config/schema.js';
import { parseArgs } from './args.js';
import { printConfigNotices } from './notices.js';
import { startEngine } from './engine.js';

function formatResolved(loaded: LoadedConfig): string {
  const lines = [`Resolved config (${loaded.source}; keys that differ from the defaults):`];
  for (const schema of Object.values(configGroups)) {
    for (const key of Object.keys(schema.shape)) {
      if (!differsFromDefault(loaded.config, key)) continue;
      lines.push(`  ${key}: ${JSON.stringify(loaded.config[key as keyof RetuneConfig])}`);
    }
  }
  return lines.join('\n') + '\n';
}

export async function runTrainCommand(args: string[]): Promise<number> {
  const { configPath, overrides, flags } = parseArgs('train', args, { 'dry-run': 'boolean' });
  const loaded = loadConfig(configPath, overrides);
  printConfigNotices(loaded);
  const { config } = loaded;
  const print = (line: string): void => void process.stdout.write(`${line}\n`);
  // Imported only when asked for: the similarity metrics load jieba's dictionary.
  const evaluation = config.do_eval || config.do_predict ? await import('../infer/predict.js') : null;
  if (evaluation !== null && !config.do_train) {
    evaluation.checkEvalPredictConfig(config, loaded.source);
    process.stdout.write(formatResolved(loaded));
    if (flags.has('dry-run')) return 0;
    startEngine(config);
    await evaluation.runEvalPredict(config, print);
    return 0;
  }
  checkTrainConfig(loaded);
  evaluation?.checkEvalPredictConfig(config, loaded.source);
  process.stdout.write(formatResolved(loaded));
  startEngine(config);
  // The trainer is imported only once the config is known good, so config errors never wait on loading the engine.
  const { runTrain } = await import('../train/index.js');
  const dryRun = flags.has('dry-run');
  const result = await runTrain(config, { dryRun, log: print });
  if (evaluation !== null && !dryRun) await evaluation.evaluateTrained(config, result, print);
  return 0;
}

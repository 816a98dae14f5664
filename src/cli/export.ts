// `retune export cfg.yaml [key=value ...]`: merge adapter_name_or_path into model_name_or_path and write an HF folder
// at export_dir (src/model/export.ts does the work; it refuses a non-empty export_dir and writes atomically). The
// config's new tokens grow a base model and its tokenizer as training grows them (src/infer/vocab.ts).
import { loadConfig, requireKeys } from '../config/load.js';
import type { RetuneConfig } from '../config/schema.js';
import { resolveTemplate } from '../data/template-resolve.js';
import { templateToJinja } from '../data/template-jinja.js';
import { loadTokenizer, saveTokenizer, tokenizerFolder, type Tokenizer } from '../data/tokenizer.js';
import { configuresVocab, InferenceVocab } from '../infer/vocab.js';
import { exportModel, type ExportOptions } from '../model/export.js';
import { parseArgs } from './args.js';
import { printConfigNotices } from './notices.js';
import { startEngine } from './engine.js';
import { splitList } from '../model/adapters/finetuning.js';

export async function runExportCommand(args: string[]): Promise<number> {
  const { configPath, overrides } = parseArgs('export', args, {});
  const loaded = loadConfig(configPath, overrides);
  printConfigNotices(loaded);
  requireKeys(loaded, ['model_name_or_path', 'export_dir'], 'to export');
  startEngine(loaded.config);
  const { config } = loaded;
  const adapters = splitList(config.adapter_name_or_path);
  const result = await exportModel(config, await tokenizerOptions(config, adapters));
  const merged = adapters.length === 0 ? '' : ` with ${adapters.length} adapter${adapters.length > 1 ? 's' : ''} merged`;
  process.stdout.write(`Exported ${config.model_name_or_path}${merged} to ${result.dir} (${result.dtype}): ${result.files.join(', ')}\n`);
  return 0;
}

// The tokenizer is read only when the template or the vocabulary keys need it; otherwise its files are copied as
// they are (a folder of weights alone exports too).
async function tokenizerOptions(config: RetuneConfig, adapters: string[]): Promise<ExportOptions> {
  const base = config.model_name_or_path as string;
  const tokenizerDir = tokenizerFolder(base, adapters);
  if (!config.template && !configuresVocab(config)) return { tokenizerDir };
  const tokenizer = await loadTokenizer(tokenizerDir);
  const vocab = new InferenceVocab(tokenizer, config, tokenizerDir === base ? null : tokenizerDir);
  const template = runTemplate(config, tokenizer);
  return {
    ...template,
    tokenizerDir,
    growVocab: (model) => {
      const resized = vocab.grow(model);
      if (resized !== null) process.stdout.write(`${resized}\n`);
    },
    saveTokenizer: vocab.changed ? (dir) => saveTokenizer(tokenizer, dir) : undefined,
  };
}

// As LLaMA-Factory's export does, a run that names a template hands it on as the exported tokenizer's
// chat_template, so the model is prompted the way it was trained. The template is resolved exactly as training
// resolves it (default_system, enable_thinking, replace_eos), since the Jinja spells out the EOS text it used.
// A template with replace_eos also hands on the EOS its answers ended with. Without a template the base tokenizer
// files are copied unchanged.
function runTemplate(config: RetuneConfig, tokenizer: Tokenizer): ExportOptions {
  if (!config.template) return {};
  const template = resolveTemplate(config, tokenizer);
  const chatTemplate = templateToJinja(template, tokenizer);
  if (chatTemplate === null) {
    process.stderr.write(`retune: notice: template ${template.name} has no Jinja form; the exported tokenizer keeps the base chat_template\n`);
  }
  const eosToken = template.replaceEos && tokenizer.eosToken !== null && tokenizer.eosId !== null
    ? { text: tokenizer.eosToken, id: tokenizer.eosId } : null;
  return { chatTemplate, eosToken };
}

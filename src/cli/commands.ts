// The one table of `retune` commands. Each command's module is imported when it runs, so `retune --version` or
// `retune help` never load the engine.
import { plannedCommand } from './planned.js';
import type { CommandTable } from './command.js';
import { runHelp } from './help.js';

export const commands: CommandTable = {
  train: {
    summary: 'Train (pt or sft; LoRA, freeze or full) as a config says; resumes from output_dir when it can.',
    usage: 'retune train cfg.yaml [key=value ...] [--dry-run]',
    groups: ['model', 'data', 'finetuning', 'training', 'resume'],
    run: async (args) => (await import('./train.js')).runTrainCommand(args),
  },
  chat: {
    summary: 'Chat with a model (and adapters) in the terminal; --prompt or stdin lines for scripts.',
    usage: 'retune chat cfg.yaml [key=value ...] [--prompt "text"]',
    groups: ['model', 'data', 'generating'],
    run: async (args) => (await import('./chat.js')).runChatCommand(args),
  },
  export: {
    summary: 'Merge adapters into the base model and write an HF model folder.',
    usage: 'retune export cfg.yaml [key=value ...]',
    groups: ['model', 'data', 'export'],
    run: async (args) => (await import('./export.js')).runExportCommand(args),
  },
  env: {
    summary: 'Print versions, the compute backend, threads and CPU features (for bug reports).',
    usage: 'retune env',
    groups: [],
    run: async (args) => (await import('./env.js')).runEnvCommand(args),
  },
  version: {
    summary: 'Print the Retune version.',
    usage: 'retune version',
    groups: [],
    run: async () => (await import('./version.js')).runVersion(),
  },
  help: {
    summary: 'Print this overview, or a command\'s usage and config keys.',
    usage: 'retune help [command]',
    groups: [],
    run: (args) => runHelp(args, commands),
  },
  webui: {
    summary: 'Web UI (not available yet).',
    usage: 'retune webui',
    groups: [],
    run: plannedCommand('webui', 'web UI'),
  },
  api: {
    summary: 'OpenAI-compatible API server for a model (and adapters); API_HOST, API_PORT, API_KEY, API_MODEL_NAME.',
    usage: 'retune api cfg.yaml [key=value ...]',
    groups: ['model', 'data', 'generating'],
    run: async (args) => (await import('./api.js')).runApiCommand(args),
  },
};

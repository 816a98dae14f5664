// `retune help`, `retune --help` and `retune <command> --help`: the command list, and the config keys a command reads,
// grouped as in the schema, each with its type, default and one-line description.
import { configKeys, type GroupName, type KeyInfo } from '../config/keys.js';
import { UsageError } from '../util/errors.js';
import type { Command, CommandTable } from './command.js';
import { retuneVersion } from './version.js';

function showDefault(value: unknown): string {
  if (value === null || value === undefined) return 'unset';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

// The type in words, as a user writes the value in YAML.
function typeWords(info: KeyInfo): string {
  switch (info.kind) {
    case 'integer': return 'int';
    case 'enum': return (info.values ?? []).join('|');
    case 'list': return 'comma list';
    case 'record': return 'mapping';
    default: return info.kind;
  }
}

export function formatGroups(groups: readonly GroupName[]): string {
  const keys = configKeys();
  const lines: string[] = [];
  for (const group of groups) {
    if (lines.length > 0) lines.push('');
    lines.push(`${group}:`);
    for (const info of keys.filter((k) => k.group === group)) {
      lines.push(`  ${info.name} (${typeWords(info)}, default ${showDefault(info.default)})`, `      ${info.description}`);
    }
  }
  return lines.join('\n');
}

export function commandHelp(name: string, command: Command): string {
  const parts = [`usage: ${command.usage}`, '', command.summary];
  if (command.groups.length > 0) {
    parts.push('', 'Config keys (YAML file, key=value or --key value; LLaMA-Factory names):', '', formatGroups(command.groups));
  }
  return parts.join('\n') + '\n';
}

export function overview(commands: CommandTable): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length));
  const rows = Object.entries(commands).map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`);
  return [
    `retune ${retuneVersion()}: fine-tune LLMs on CPU with LLaMA-Factory configs`,
    '',
    'usage: retune <command> [cfg.yaml] [key=value ...]',
    '',
    'commands:',
    ...rows,
    '',
    'Run `retune <command> --help` for the config keys a command reads.',
    '',
    'environment:',
    '  RETUNE_BACKEND=reference|native  compute backend (default: native when the addon is built)',
    '  RETUNE_THREADS=N                 native backend threads (default: all cores; the threads key wins)',
    '  RETUNE_DEBUG=1                   print the stack with errors',
    '',
  ].join('\n');
}

export async function runHelp(args: string[], commands: CommandTable): Promise<number> {
  if (args.length === 0) {
    process.stdout.write(overview(commands));
    return 0;
  }
  const command = commands[args[0]];
  if (command === undefined) throw new UsageError(`retune help: unknown command ${args[0]} (run retune help)`);
  process.stdout.write(commandHelp(args[0], command));
  return 0;
}

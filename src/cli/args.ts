// The argument forms every config-driven command shares, as LLaMA-Factory's CLI takes them:
//   retune <command> [cfg.yaml] [key=value ...] [--key value | --key=value ...] [--flag ...]
// `--key value` for a schema or other LLaMA-Factory key is the HfArgumentParser form and becomes an override like
// key=value.
import { UsageError } from '../util/errors.js';
import { isKnownKey } from '../config/keys.js';

export interface FlagSpec {
  [name: string]: 'boolean' | 'string';
}

export interface ParsedArgs {
  configPath: string | null;
  overrides: string[];
  flags: Map<string, string | true>;
}

export function parseArgs(command: string, args: string[], spec: FlagSpec): ParsedArgs {
  const parsed: ParsedArgs = { configPath: null, overrides: [], flags: new Map() };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      const inline = eq < 0 ? null : arg.slice(eq + 1);
      const takeValue = (): string => {
        if (inline !== null) return inline;
        if (i + 1 >= args.length) throw new UsageError(`${command}: --${name} needs a value`);
        return args[++i];
      };
      if (spec[name] === 'boolean') {
        if (inline !== null) throw new UsageError(`${command}: --${name} takes no value`);
        parsed.flags.set(name, true);
      } else if (spec[name] === 'string') {
        parsed.flags.set(name, takeValue());
      } else if (isKnownKey(name)) {
        parsed.overrides.push(`${name}=${takeValue()}`);
      } else {
        throw new UsageError(`${command}: unknown option --${name} (run retune ${command} --help)`);
      }
    } else if (arg.includes('=')) {
      parsed.overrides.push(arg);
    } else if (parsed.configPath === null) {
      parsed.configPath = arg;
    } else {
      throw new UsageError(`${command}: one config file expected, got ${parsed.configPath} and ${arg}`);
    }
  }
  return parsed;
}

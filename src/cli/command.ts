// What a `retune` command is: the table of them is commands.ts; help.ts prints them.
import type { GroupName } from '../config/keys.js';

export interface Command {
  summary: string;
  usage: string;
  groups: readonly GroupName[]; // config key groups listed by `retune <command> --help`
  run: (args: string[]) => Promise<number>;
}

export type CommandTable = Record<string, Command>;

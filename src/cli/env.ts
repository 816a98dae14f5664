// `retune env`: what a bug report needs — versions, the compute backend and its threads, the CPU's vector features
// (the native kernels pick AVX2 or AVX-512 paths from them) and memory.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import type { Backend } from '../backend/backend.js';
import { getBackend } from '../backend/index.js';
import { UsageError } from '../util/errors.js';
import { retuneVersion } from './version.js';

const vectorFlags = ['sse4_2', 'avx', 'avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512vl', 'avx512dq', 'avx512_bf16', 'amx_tile', 'amx_bf16'];
const packages = ['@huggingface/tokenizers', '@huggingface/jinja', 'zod', 'yaml', 'hyparquet', 'pngjs'];

// Packages with an `exports` map hide their package.json, so walk up from the resolved entry point instead.
function packageVersion(name: string): string {
  const require = createRequire(import.meta.url);
  let dir: string;
  try {
    dir = dirname(require.resolve(name));
  } catch {
    return 'not installed';
  }
  for (; dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === name) return pkg.version ?? 'unknown';
  }
  return 'unknown';
}

// The flags line of the first processor in /proc/cpuinfo (Linux); other systems report none.
function cpuFlags(): Set<string> | null {
  if (!existsSync('/proc/cpuinfo')) return null;
  const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => /^flags\s*:/.test(l));
  return line === undefined ? null : new Set(line.split(':')[1].trim().split(/\s+/));
}

// The path in force, how it was chosen (the widest the host runs, or RETUNE_ISA), and what `bf16: true` runs on.
function kernelPathLine(backend: Backend): string {
  if (backend.name !== 'native') return '';
  const forced = process.env.RETUNE_ISA;
  const chosen = forced !== undefined && forced !== '' ? 'RETUNE_ISA' : 'widest this CPU runs';
  return `, kernel path ${backend.kernelPath} (${chosen}), bf16 products on ${backend.bf16Kernel}`;
}

export function envReport(): string {
  const backend = getBackend();
  const flags = cpuFlags();
  const features = flags === null
    ? 'unknown (no /proc/cpuinfo)'
    : vectorFlags.map((f) => `${f}${flags.has(f) ? '' : ' (no)'}`).join(', ');
  const rows: [string, string][] = [
    ['Retune version', retuneVersion()],
    ['Node.js version', `${process.version} (V8 ${process.versions.v8})`],
    ['Platform', `${process.platform} ${process.arch}, kernel ${release()}`],
    ['CPU', `${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} logical cores`],
    ['CPU features', features],
    ['Memory', `${(totalmem() / 2 ** 30).toFixed(1)} GiB`],
    ['Backend', `${backend.name}, ${backend.threads} threads${kernelPathLine(backend)}`],
    ...packages.map((name): [string, string] => [name, packageVersion(name)]),
  ];
  return rows.map(([label, value]) => `- ${label}: ${value}`).join('\n') + '\n';
}

export async function runEnvCommand(args: string[]): Promise<number> {
  if (args.length > 0) throw new UsageError(`env takes no arguments, got ${args.join(' ')}`);
  process.stdout.write(envReport());
  return 0;
}

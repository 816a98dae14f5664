// Export: runs `retune export` as a child process (its own checks, messages and atomic writes) on a config file
// written for it.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { requireKeys, resolvedConfigText } from '../../config/load.js';
import type { ExportResponse } from './api-types.js';
import { validConfig } from './config-routes.js';
import { HttpError } from './http-error.js';
import type { RootedPaths } from './paths.js';

const BIN = fileURLToPath(new URL('../../../../bin/retune.js', import.meta.url));

function runRetune(args: string[], cwd: string): Promise<{ code: number | null; output: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RETUNE_DEBUG: '' } });
    let output = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, output, stderr }));
  });
}

export function toolRoutes(app: FastifyInstance, paths: RootedPaths): void {
  app.post('/api/export', async (request): Promise<ExportResponse> => {
    const loaded = validConfig(paths, request.body);
    requireKeys(loaded, ['model_name_or_path', 'export_dir'], 'to export');
    const exportDir = paths.resolve(loaded.config.export_dir as string, 'export_dir');
    const temp = mkdtempSync(join(tmpdir(), 'retune-board-export-'));
    try {
      const file = join(temp, 'export.yaml');
      writeFileSync(file, resolvedConfigText(loaded.config, 'export.yaml'));
      const r = await runRetune(['export', file], paths.root);
      if (r.code !== 0) {
        const message = r.stderr.replace(/^retune: (error|internal error): /m, '').trim();
        throw new HttpError(r.code === 2 ? 400 : 422, message || `retune export failed with exit code ${r.code}`);
      }
      return { dir: paths.show(exportDir), files: readdirSync(exportDir).sort(), output: r.output };
    } finally {
      rmSync(temp, { recursive: true, force: true });
    }
  });
}

// The layer rule of docs/ARCHITECTURE.md, read off the source: every import (type-only and dynamic ones too) points
// down the layer order or stays in its folder, and no files import each other in a circle.
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

// Lowest first; folders on one rank (model, data, optim) must not import each other.
const RANKS: Record<string, number> = {
  util: 0, config: 1, backend: 2, tensor: 3, nn: 4, model: 5, data: 5, optim: 5, train: 6, infer: 7, server: 8, cli: 9,
  library: 10, 'index.ts': 11,
};

function sources(dir: string): string[] {
  return readdirSync(dir).sort().flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

// file (relative to the repository) -> the src files it imports.
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const pattern = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;
  for (const file of sources('src')) {
    const text = readFileSync(file, 'utf8');
    const targets = [...text.matchAll(pattern)]
      .map((m) => relative('.', resolve(dirname(file), m[1].replace(/\.js$/, '.ts'))));
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

function layerOf(file: string): string {
  return file.split(/[\\/]/)[1];
}

test('every import in src points down the layer order of docs/ARCHITECTURE.md', () => {
  const graph = importGraph();
  const wrong: string[] = [];
  for (const [file, targets] of graph) {
    const from = layerOf(file);
    assert.ok(from in RANKS, `${file}: folder ${from} has no place in the layer order`);
    for (const target of targets) {
      assert.ok(graph.has(target), `${file} imports ${target}, which is not a source file`);
      const to = layerOf(target);
      if (to !== from && RANKS[to] >= RANKS[from]) wrong.push(`${file} -> ${target}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('no import circles in src', () => {
  const graph = importGraph();
  const circles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    path.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'open') circles.push([...path.slice(path.indexOf(next)), next].join(' -> '));
      else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  assert.deepEqual(circles, []);
});

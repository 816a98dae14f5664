// What the Board tells the page about itself: the stages the form offers come from the schema, and only those that
// train can be chosen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InfoResponse } from '../../../src/server/webui/api-types.js';
import { call, quickstartRoot, startBoard } from './board-helpers.js';

const board = await startBoard(quickstartRoot());
test.after(() => board.close());

test('/api/info lists every stage of the schema, with ppo the only one that cannot be chosen', async () => {
  const info = await call(board, 'GET', '/api/info');
  assert.equal(info.status, 200);
  assert.deepEqual((info.body as InfoResponse).stages, [
    { name: 'pt', available: true }, { name: 'sft', available: true }, { name: 'rm', available: true },
    { name: 'ppo', available: false }, { name: 'dpo', available: true }, { name: 'kto', available: true },
  ]);
});

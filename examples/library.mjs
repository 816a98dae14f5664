// Retune as a library (README "Use as a library"): run with `node examples/library.mjs` after `npm ci`.
import { loadConfig, loadModel, train } from 'retune';

// Train: the same run as `npx retune train examples/quickstart.yaml max_steps=10`, resolving with the final metrics.
const loaded = loadConfig('examples/quickstart.yaml', ['max_steps=10', 'output_dir=saves/library-example', 'plot_loss=false']);
const metrics = await train(loaded, { onLog: (line) => console.log(line) });
console.log('final loss', metrics?.loss, 'after', metrics?.globalStep, 'steps');

// Load the base model with the trained adapter and use it.
const model = await loadModel('examples/models/tiny-stories', { adapter: 'saves/library-example', template: 'chatml' });
const ids = model.tokenizer.encode('Once upon a time', { addSpecialTokens: false });
console.log('logits shape', model.forward(ids).shape, 'loss', model.loss(ids, ids).toFixed(3));
process.stdout.write('story: Once upon a time');
for await (const token of model.generate('Once upon a time', { maxNewTokens: 30, temperature: 0 })) process.stdout.write(token.text);
const reply = await model.chat([{ role: 'user', content: 'Who are you?' }], { temperature: 0 });
console.log(`\nreply: ${reply.text} (${reply.finishReason}, ${reply.ids.length} tokens)`);

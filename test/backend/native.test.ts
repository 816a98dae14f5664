// The native kernels on every kernel path the host runs, against the reference backend on random shapes (odd sizes,
// every transpose combination, GQA, packed segments), bit-identical reruns, and clear errors for bad arguments.
// Skipped when the addon is not built.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AttentionArgs, Backend, MatmulArgs } from '../../src/backend/backend.js';
import { referenceBackend as ref } from '../../src/backend/reference.js';
import { applyIsaFromEnv, kernelPathNames, loadNativeAddon, loadNativeBackend } from '../../src/backend/native.js';
import type { KernelPaths } from '../../src/backend/native.js';
import { UsageError } from '../../src/util/errors.js';
import { rng } from '../tensor/helpers.js';
import { bitsEqual, randn } from './helpers.js';

const native = loadNativeBackend();
const addon = loadNativeAddon();

function randInts(n: number, max: number, seed: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => Math.floor(r() * max));
}

// |a - b| <= atol + rtol * |b| everywhere, reporting the first offending index.
function assertClose(actual: Float32Array, expected: Float32Array, atol: number, rtol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= atol + rtol * Math.abs(expected[i]))) {
      assert.fail(`${what}[${i}]: native ${actual[i]} vs reference ${expected[i]} (error ${err})`);
    }
  }
}

// Odd shapes, every transpose and accumulate, on random operands.
function* matmulCases(): Generator<{ args: MatmulArgs; a: Float32Array; b: Float32Array; c0: Float32Array }> {
  const shapes: [number, number, number, number][] = [
    [1, 1, 1, 1], [1, 7, 13, 33], [2, 13, 65, 7], [1, 65, 33, 300], [3, 6, 16, 256], [1, 7, 3100, 5], [1, 150, 20, 513],
    [1, 5, 3300, 130], // split by columns across threads, wider than one packed B block
    [1, 40, 600, 700], // several depth steps with B packed step by step; [1, 150, 20, 513] packs a narrow B whole
    [1, 1, 700, 300], [2, 3, 70, 1000], [1, 4, 300, 17], // few rows: the matrix-vector path
    [1, 37, 97, 45], [1, 25, 64, 290], // partial AVX-512 tiles (12 x 32) at both edges; whole 32-column panels
  ];
  let seed = 1;
  for (const [batch, M, N, K] of shapes) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        for (const accumulate of [false, true]) {
          const args: MatmulArgs = { batch, M, N, K, transA, transB, accumulate };
          yield { args, a: randn(batch * M * K, seed++), b: randn(batch * K * N, seed++), c0: randn(batch * M * N, seed++) };
        }
      }
    }
  }
}

// Every kernel path this host runs (avx2, avx512, ... narrowest first): each one is checked against the reference
// and for determinism on its own.
const hostPaths = addon === null ? [] : addon.kernelPaths().paths;
// The determinism test's outputs on each path, compared across paths at the end.
const outputsByPath = new Map<string, Float32Array[]>();
const startPath = addon === null ? '' : addon.kernelPaths().path;

for (const path of addon === null ? ['(none)'] : hostPaths) {
  describe(`native backend, kernel path ${path}`, { skip: native === null ? 'native addon not built' : false }, () => {
    before(() => addon?.setKernelPath(path));
    after(() => addon?.setKernelPath(startPath));
    const nb = native as Backend;

    it('matmul matches reference for odd shapes, every transpose, batch and accumulate', () => {
      for (const { args, a, b, c0 } of matmulCases()) {
        const cRef = c0.slice();
        const cNat = c0.slice();
        ref.matmul(a, b, cRef, args);
        nb.matmul(a, b, cNat, args);
        assertClose(cNat, cRef, 2e-6 * args.K, 1e-5, `matmul ${JSON.stringify(args)}`);
      }
    });

    it('embedding and its backward match reference, repeated ids included', () => {
      const V = 11, C = 13, N = 40;
      const weight = randn(V * C, 1);
      const ids = randInts(N, V, 2);
      const outRef = new Float32Array(N * C), outNat = new Float32Array(N * C);
      ref.embedding(weight, ids, outRef, C);
      nb.embedding(weight, ids, outNat, C);
      assert.ok(bitsEqual(outNat, outRef));
      const dOut = randn(N * C, 3);
      const dwRef = randn(V * C, 4), dwNat = dwRef.slice();
      ref.embeddingBackward(dOut, ids, dwRef, C);
      nb.embeddingBackward(dOut, ids, dwNat, C);
      assertClose(dwNat, dwRef, 1e-6, 1e-6, 'embeddingBackward');
    });

    it('rmsnorm and its backward match reference', () => {
      for (const [N, C] of [[1, 1], [7, 33], [13, 256], [5, 1001]]) {
        const x = randn(N * C, N + C), w = randn(C, 7);
        const outRef = new Float32Array(N * C), outNat = new Float32Array(N * C);
        const rRef = new Float32Array(N), rNat = new Float32Array(N);
        ref.rmsnorm(x, w, outRef, rRef, N, C, 1e-6);
        nb.rmsnorm(x, w, outNat, rNat, N, C, 1e-6);
        assertClose(rNat, rRef, 0, 1e-6, 'rstd');
        assertClose(outNat, outRef, 1e-6, 1e-5, 'rmsnorm');
        const dOut = randn(N * C, 9);
        const dxRef = new Float32Array(N * C), dxNat = new Float32Array(N * C);
        const dwRef = randn(C, 10), dwNat = dwRef.slice();
        ref.rmsnormBackward(dOut, x, w, rRef, dxRef, dwRef, N, C);
        nb.rmsnormBackward(dOut, x, w, rRef, dxNat, dwNat, N, C);
        assertClose(dxNat, dxRef, 1e-5, 1e-5, 'rmsnorm dx');
        assertClose(dwNat, dwRef, 1e-5, 1e-5, 'rmsnorm dw');
      }
    });

    it('rope forward and inverse match reference, and inverse undoes forward', () => {
      const N = 9, nHead = 3, hd = 14, maxPos = 20;
      const x = randn(N * nHead * hd, 1);
      const cos = randn(maxPos * (hd / 2), 2), sin = randn(maxPos * (hd / 2), 3);
      const positions = randInts(N, maxPos, 4);
      for (const inverse of [false, true]) {
        const outRef = new Float32Array(x.length), outNat = new Float32Array(x.length);
        ref.rope(x, outRef, positions, cos, sin, N, nHead, hd, inverse);
        nb.rope(x, outNat, positions, cos, sin, N, nHead, hd, inverse);
        assertClose(outNat, outRef, 1e-6, 1e-6, `rope inverse=${inverse}`);
      }
      const angle = randn(maxPos * (hd / 2), 5, Math.PI);
      const c = angle.map(Math.cos), s = angle.map(Math.sin);
      const y = new Float32Array(x.length), back = new Float32Array(x.length);
      nb.rope(x, y, positions, c, s, N, nHead, hd, false);
      nb.rope(y, back, positions, c, s, N, nHead, hd, true);
      assertClose(back, x, 1e-6, 1e-5, 'rope round trip');
    });

    function attentionCase(
      B: number, T: number, nHead: number, nKV: number, hd: number, segments: Int32Array | null, seed: number,
      window: number | null = null,
    ) {
      const args: AttentionArgs = { B, T, nHead, nKV, hd, scale: 1 / Math.sqrt(hd), segments, window };
      return {
        args,
        q: randn(B * T * nHead * hd, seed, 2),
        k: randn(B * T * nKV * hd, seed + 1, 2),
        v: randn(B * T * nKV * hd, seed + 2),
        dOut: randn(B * T * nHead * hd, seed + 3),
      };
    }

    function packedSegments(B: number, T: number, seed: number): Int32Array {
      const r = rng(seed);
      const seg = new Int32Array(B * T);
      for (let b = 0; b < B; b++) {
        let id = 0;
        for (let t = 0; t < T; t++) {
          if (t > 0 && r() < 0.08) id++;
          seg[b * T + t] = id;
        }
      }
      return seg;
    }

    function checkAttention(cases: ReturnType<typeof attentionCase>[]): void {
      for (const { args, q, k, v, dOut } of cases) {
        const what = `attention B=${args.B} T=${args.T} nHead=${args.nHead} nKV=${args.nKV} hd=${args.hd} window=${args.window}`;
        const { B, T, nHead } = args;
        const outRef = new Float32Array(q.length), outNat = new Float32Array(q.length);
        const lseRef = new Float32Array(B * nHead * T), lseNat = new Float32Array(B * nHead * T);
        ref.attention(q, k, v, outRef, lseRef, args);
        nb.attention(q, k, v, outNat, lseNat, args);
        assertClose(outNat, outRef, 1e-5, 1e-5, `${what} out`);
        assertClose(lseNat, lseRef, 1e-5, 1e-6, `${what} lse`);
        const grads = (be: Backend) => {
          const dq = new Float32Array(q.length), dk = new Float32Array(k.length), dv = new Float32Array(v.length);
          be.attentionBackward(dOut, q, k, v, outRef, lseRef, dq, dk, dv, args);
          return { dq, dk, dv };
        };
        const gRef = grads(ref), gNat = grads(nb);
        assertClose(gNat.dq, gRef.dq, 2e-5, 1e-4, `${what} dq`);
        assertClose(gNat.dk, gRef.dk, 2e-5, 1e-4, `${what} dk`);
        assertClose(gNat.dv, gRef.dv, 2e-5, 1e-4, `${what} dv`);
      }
    }

    it('attention forward and backward match reference (GQA, segments, odd T and hd)', () => {
      checkAttention([
        attentionCase(1, 1, 1, 1, 4, null, 1),
        attentionCase(2, 7, 4, 2, 8, null, 10),
        attentionCase(1, 33, 2, 2, 13, null, 20),
        attentionCase(2, 65, 4, 1, 16, packedSegments(2, 65, 3), 30),
        attentionCase(1, 130, 6, 3, 8, packedSegments(1, 130, 4), 40),
        attentionCase(2, 256, 6, 6, 48, null, 60), // the training shape of a stories15M-like model
        attentionCase(1, 97, 4, 2, 40, packedSegments(1, 97, 6), 70), // hd not a multiple of 16
      ]);
    });

    it('sliding-window attention forward and backward match reference (windows 1, 3, 33, >= T; GQA, segments)', () => {
      checkAttention([
        attentionCase(1, 1, 1, 1, 4, null, 101, 1),
        attentionCase(2, 7, 4, 2, 8, null, 110, 1), // each query sees only itself
        attentionCase(2, 7, 4, 2, 8, null, 115, 3),
        attentionCase(1, 45, 2, 2, 13, null, 120, 3), // odd T and hd
        attentionCase(2, 100, 4, 1, 16, packedSegments(2, 100, 7), 130, 33), // window edge cuts blocks; segments
        attentionCase(1, 130, 6, 3, 8, packedSegments(1, 130, 8), 140, 3),
        attentionCase(1, 161, 6, 2, 40, null, 150, 33), // several whole blocks outside the window, GQA
        attentionCase(2, 96, 4, 2, 24, null, 160, 64), // window a multiple of the block
        attentionCase(1, 97, 4, 2, 40, packedSegments(1, 97, 9), 170, 97), // window = T: plain causal
        attentionCase(2, 33, 2, 1, 16, null, 180, 1000), // window > T
      ]);
    });

    it('a window >= T gives the plain causal results bit for bit', () => {
      const plain = attentionCase(2, 70, 4, 2, 24, packedSegments(2, 70, 11), 190);
      const wide = { ...plain, args: { ...plain.args, window: 70 } };
      const run = (c: typeof plain) => {
        const { B, T, nHead } = c.args;
        const out = new Float32Array(c.q.length), lse = new Float32Array(B * nHead * T);
        nb.attention(c.q, c.k, c.v, out, lse, c.args);
        const dq = new Float32Array(c.q.length), dk = new Float32Array(c.k.length), dv = new Float32Array(c.v.length);
        nb.attentionBackward(c.dOut, c.q, c.k, c.v, out, lse, dq, dk, dv, c.args);
        return [out, lse, dq, dk, dv];
      };
      const a = run(plain), b = run(wide);
      a.forEach((x, i) => assert.ok(bitsEqual(x, b[i]), `output ${i} differs`));
    });

    it('attentionCached matches reference (GQA, windows, one and several new rows, odd hd and lengths)', () => {
      let seed = 900;
      for (const [Tq, Tk, nHead, nKV, hd, window] of [
        [1, 1, 2, 1, 8, null], [1, 37, 14, 2, 64, null], [3, 20, 4, 2, 5, null], [1, 300, 4, 4, 33, 17], [5, 9, 6, 3, 16, 3],
        [4, 4, 2, 2, 24, 1], [2, 70, 8, 1, 128, null],
      ] as [number, number, number, number, number, number | null][]) {
        const args = { Tq, Tk, nHead, nKV, hd, scale: hd ** -0.5, window };
        const q = randn(Tq * nHead * hd, seed++);
        const k = randn(Tk * nKV * hd, seed++, 2);
        const v = randn(Tk * nKV * hd, seed++);
        const want = new Float32Array(q.length);
        const got = new Float32Array(q.length);
        ref.attentionCached(q, k, v, want, args);
        nb.attentionCached(q, k, v, got, args);
        assertClose(got, want, 1e-5, 1e-4, `attentionCached ${JSON.stringify(args)}`);
        const threads = addon!.getThreads();
        for (const t of [1, 3]) {
          addon!.setThreads(t);
          const again = new Float32Array(q.length);
          nb.attentionCached(q, k, v, again, args);
          assert.ok(bitsEqual(again, got), `attentionCached on ${t} threads ${JSON.stringify(args)}`);
        }
        addon!.setThreads(threads);
      }
    });

    it('swiglu and its backward match reference', () => {
      const n = 1037;
      const gate = randn(n, 1, 8), up = randn(n, 2), dOut = randn(n, 3);
      const outRef = new Float32Array(n), outNat = new Float32Array(n);
      ref.swiglu(gate, up, outRef, n);
      nb.swiglu(gate, up, outNat, n);
      assertClose(outNat, outRef, 1e-6, 1e-5, 'swiglu');
      const dgRef = new Float32Array(n), duRef = new Float32Array(n), dgNat = new Float32Array(n), duNat = new Float32Array(n);
      ref.swigluBackward(dOut, gate, up, dgRef, duRef, n);
      nb.swigluBackward(dOut, gate, up, dgNat, duNat, n);
      assertClose(dgNat, dgRef, 1e-6, 1e-5, 'swiglu dGate');
      assertClose(duNat, duRef, 1e-6, 1e-5, 'swiglu dUp');
    });

    it('crossEntropy and its backward match reference, ignoring -100 targets', () => {
      for (const [N, V] of [[1, 1], [7, 33], [13, 1000], [3, 40000]]) {
        const logits = randn(N * V, N * V, 10);
        const targets = randInts(N, V, V);
        if (N > 1) targets[1] = -100;
        const lossRef = new Float32Array(N), lossNat = new Float32Array(N);
        const lseRef = new Float32Array(N), lseNat = new Float32Array(N);
        ref.crossEntropy(logits, targets, lossRef, lseRef, N, V);
        nb.crossEntropy(logits, targets, lossNat, lseNat, N, V);
        assertClose(lseNat, lseRef, 1e-5, 1e-6, `lse N=${N} V=${V}`);
        assertClose(lossNat, lossRef, 1e-5, 1e-5, `loss N=${N} V=${V}`);
        if (N > 1) assert.equal(lossNat[1], 0);
        const dLoss = randn(N, 5);
        const dRef = new Float32Array(N * V), dNat = new Float32Array(N * V).fill(7);
        ref.crossEntropyBackward(logits, targets, lseRef, dLoss, dRef, N, V);
        nb.crossEntropyBackward(logits, targets, lseRef, dLoss, dNat, N, V);
        assertClose(dNat, dRef, 1e-7, 1e-5, `dLogits N=${N} V=${V}`);
        // In place (dLogits = logits), as the fused LM head runs it: the same bits as into a separate buffer.
        const inPlaceNat = logits.slice(), inPlaceRef = logits.slice();
        nb.crossEntropyBackward(inPlaceNat, targets, lseRef, dLoss, inPlaceNat, N, V);
        ref.crossEntropyBackward(inPlaceRef, targets, lseRef, dLoss, inPlaceRef, N, V);
        assert.ok(bitsEqual(inPlaceNat, dNat), `native in-place dLogits differ N=${N} V=${V}`);
        assert.ok(bitsEqual(inPlaceRef, dRef), `reference in-place dLogits differ N=${N} V=${V}`);
        // Loss and gradient in one call: loss and lse bit-identical to crossEntropy, the gradient close.
        for (const be of [nb, ref]) {
          const fused = logits.slice(), losses = new Float32Array(N), lse = new Float32Array(N);
          be.crossEntropyWithGrad(fused, targets, losses, lse, dLoss, N, V);
          assert.ok(bitsEqual(losses, be === nb ? lossNat : lossRef), `${be.name} crossEntropyWithGrad losses N=${N} V=${V}`);
          assert.ok(bitsEqual(lse, be === nb ? lseNat : lseRef), `${be.name} crossEntropyWithGrad lse N=${N} V=${V}`);
          assertClose(fused, dRef, 1e-7, 1e-5, `${be.name} crossEntropyWithGrad dLogits N=${N} V=${V}`);
        }
      }
    });

    it('crossEntropy finds a row maximum in any lane of the vector body and in the tail', () => {
      // lse does not depend on the maximum subtracted unless exponentials overflow: one logit far above the rest
      // makes a missed maximum visible (exp clamps near 88, so lse would come out near 88 + the true max's miss).
      for (const V of [33, 1000]) {
        for (const at of [0, 5, 15, 16, 31, V - 1]) {
          const logits = randn(2 * V, V + at, 1);
          logits[V + at] = 120;
          const targets = Int32Array.from([at, at]);
          const lseRef = new Float32Array(2), lseNat = new Float32Array(2), losses = new Float32Array(2);
          ref.crossEntropy(logits, targets, losses, lseRef, 2, V);
          nb.crossEntropy(logits, targets, losses, lseNat, 2, V);
          assertClose(lseNat, lseRef, 1e-5, 1e-6, `lse V=${V} max at ${at}`);
          const fused = logits.slice(), lseFused = new Float32Array(2), dLoss = Float32Array.from([1, 1]);
          nb.crossEntropyWithGrad(fused, targets, losses, lseFused, dLoss, 2, V);
          assert.ok(bitsEqual(lseFused, lseNat), `crossEntropyWithGrad lse V=${V} max at ${at}`);
          assert.ok(Math.abs(lseNat[1] - 120) < 1e-3, `lse ${lseNat[1]} V=${V} max at ${at}`);
        }
      }
    });

    it('adamw follows torch order of operations like the reference', () => {
      const n = 1001;
      const g = randn(n, 1), p0 = randn(n, 2), m0 = randn(n, 3, 0.1), v0 = randn(n, 4, 0.01).map(Math.abs);
      const run = (be: Backend) => {
        const p = p0.slice(), m = m0.slice(), v = v0.slice();
        be.adamw(p, g, m, v, n, 1e-3, 0.9, 0.999, 1e-8, 0.01, 1 - 0.9 ** 3, 1 - 0.999 ** 3);
        return { p, m, v };
      };
      const a = run(ref), b = run(nb);
      assertClose(b.p, a.p, 1e-7, 1e-6, 'adamw p');
      assertClose(b.m, a.m, 1e-8, 1e-6, 'adamw m');
      assertClose(b.v, a.v, 1e-10, 1e-6, 'adamw v');
    });

    it('sumSquares, scale, add, mul and axpy match reference', () => {
      const n = 100003;
      const x = randn(n, 1), y = randn(n, 2);
      const ss = nb.sumSquares(x, n);
      assert.ok(Math.abs(ss - ref.sumSquares(x, n)) <= 1e-9 * ss, 'sumSquares');
      assert.equal(nb.sumSquares(x, 0), 0);
      const outRef = new Float32Array(n), outNat = new Float32Array(n);
      ref.add(x, y, outRef, n);
      nb.add(x, y, outNat, n);
      assert.ok(bitsEqual(outNat, outRef), 'add');
      const aliased = x.slice();
      nb.add(aliased, y, aliased, n);
      assert.ok(bitsEqual(aliased, outRef), 'add with out = a');
      ref.mul(x, y, outRef, n);
      nb.mul(x, y, outNat, n);
      assert.ok(bitsEqual(outNat, outRef), 'mul');
      const sRef = x.slice(), sNat = x.slice();
      ref.scale(sRef, 0.37, n);
      nb.scale(sNat, 0.37, n);
      assert.ok(bitsEqual(sNat, sRef), 'scale');
      const yRef = y.slice(), yNat = y.slice();
      ref.axpy(-1.5, x, yRef, n);
      nb.axpy(-1.5, x, yNat, n);
      assert.ok(bitsEqual(yNat, yRef), 'axpy');
    });

    it('addRows, sumRows and transpose give the reference bits on 1, 2 and 3 threads', () => {
      const api = addon as NonNullable<typeof addon>;
      const before = api.getThreads();
      // [N, C]: a LoRA job's bias shapes (many rows, split by rows or columns), odd sizes, one row, one column.
      for (const [N, C] of [[512, 896], [37, 1001], [1, 70], [300, 1], [3, 5]]) {
        const x = randn(N * C, N + C), bias = randn(C, 7), sums0 = randn(C, 8);
        const rowsRef = x.slice(), sumsRef = sums0.slice(), tRef = randn(N * C, 9), tAccRef = tRef.slice();
        ref.addRows(rowsRef, bias, N, C);
        ref.sumRows(x, sumsRef, N, C);
        const tOut = new Float32Array(N * C);
        ref.transpose(x, tOut, N, C, false);
        ref.transpose(x, tAccRef, N, C, true);
        assert.equal(tOut[Math.min(1, C - 1) * N], x[Math.min(1, C - 1)], 'reference transpose: dst (C, N)');
        for (const threads of [1, 2, 3]) {
          api.setThreads(threads);
          const what = `${threads} threads, N ${N}, C ${C}`;
          const rows = x.slice(), sums = sums0.slice(), t = new Float32Array(N * C).fill(NaN), tAcc = tRef.slice();
          nb.addRows(rows, bias, N, C);
          nb.sumRows(x, sums, N, C);
          nb.transpose(x, t, N, C, false);
          nb.transpose(x, tAcc, N, C, true);
          assert.ok(bitsEqual(rows, rowsRef), `addRows ${what}`);
          assert.ok(bitsEqual(sums, sumsRef), `sumRows ${what}`);
          assert.ok(bitsEqual(t, tOut), `transpose ${what}`);
          assert.ok(bitsEqual(tAcc, tAccRef), `transpose accumulate ${what}`);
        }
      }
      api.setThreads(before);
    });

    it('roundBf16 gives the reference bits (ties, NaN, infinities, subnormals) on 1, 2 and 3 threads', () => {
      const api = addon as NonNullable<typeof addon>;
      const before = api.getThreads();
      const special = new Float32Array(new Uint32Array([
        0x3f808000, 0x3f818000, 0x3f80ffff, 0x7f7fffff, 0xff7fffff, 0x7f800000, 0xff800000, 0x7fc00001, 0xff812345,
        0x7f800001, 0x00000001, 0x80008000, 0x00018000, 0x00000000, 0x80000000,
      ]).buffer);
      // Above 2^16 elements the rounding is shared out over the threads.
      for (const x of [special, randn(1000, 3, 1e3), randn(200_003, 4)]) {
        const want = new Uint16Array(x.length);
        ref.roundBf16(x, want, x.length);
        for (const threads of [1, 2, 3]) {
          api.setThreads(threads);
          const got = new Uint16Array(x.length).fill(0xdead);
          nb.roundBf16(x, got, x.length);
          assert.deepEqual(got, want, `${threads} threads, ${x.length} values`);
        }
      }
      // The reference is torch's cast: ties to even, NaN quiet with its sign and high payload kept.
      const want = new Uint16Array(special.length);
      ref.roundBf16(special, want, special.length);
      assert.deepEqual(Array.from(want.subarray(0, 10)),
        [0x3f80, 0x3f82, 0x3f81, 0x7f80, 0xff80, 0x7f80, 0xff80, 0x7fc0, 0xffc1, 0x7fc0]);
      api.setThreads(before);
    });

    it('matmulPair gives the bits of two matmul calls, on 1, 2 and 3 threads, for equal and unequal products', () => {
      const api = addon as NonNullable<typeof addon>;
      const before = api.getThreads();
      // [args1, args2]: a linear layer's dx and dw, unequal sizes, a tiny pair, a batched one, a few-row one.
      const cases: [MatmulArgs, MatmulArgs][] = [
        [{ batch: 1, M: 300, N: 70, K: 90, transA: false, transB: false, accumulate: false },
          { batch: 1, M: 90, N: 70, K: 300, transA: true, transB: false, accumulate: true }],
        [{ batch: 1, M: 523, N: 37, K: 1001, transA: false, transB: false, accumulate: false },
          { batch: 1, M: 1001, N: 37, K: 523, transA: true, transB: false, accumulate: true }],
        [{ batch: 1, M: 400, N: 150, K: 260, transA: false, transB: true, accumulate: false },
          { batch: 1, M: 31, N: 45, K: 17, transA: false, transB: false, accumulate: true }],
        [{ batch: 1, M: 7, N: 9, K: 5, transA: true, transB: true, accumulate: false },
          { batch: 1, M: 6, N: 16, K: 3, transA: false, transB: false, accumulate: false }],
        [{ batch: 3, M: 20, N: 30, K: 40, transA: false, transB: false, accumulate: false },
          { batch: 1, M: 3, N: 500, K: 200, transA: false, transB: true, accumulate: true }],
      ];
      let seed = 900;
      try {
        for (const threads of [1, 2, 3]) {
          api.setThreads(threads);
          for (const [args1, args2] of cases) {
            const operands = (args: MatmulArgs) => ({
              a: randn(args.batch * args.M * args.K, seed++),
              b: randn(args.batch * args.K * args.N, seed++),
              c: randn(args.batch * args.M * args.N, seed++),
            });
            const p1 = operands(args1), p2 = operands(args2);
            const single1 = p1.c.slice(), single2 = p2.c.slice(), pair1 = p1.c.slice(), pair2 = p2.c.slice();
            const reference1 = p1.c.slice(), reference2 = p2.c.slice();
            nb.matmul(p1.a, p1.b, single1, args1);
            nb.matmul(p2.a, p2.b, single2, args2);
            nb.matmulPair(p1.a, p1.b, pair1, args1, p2.a, p2.b, pair2, args2);
            ref.matmulPair(p1.a, p1.b, reference1, args1, p2.a, p2.b, reference2, args2);
            const what = `${threads} threads, ${JSON.stringify([args1, args2])}`;
            assert.ok(bitsEqual(pair1, single1), `first product differs from matmul: ${what}`);
            assert.ok(bitsEqual(pair2, single2), `second product differs from matmul: ${what}`);
            assertClose(pair1, reference1, 2e-6 * args1.K, 1e-5, `first product vs reference: ${what}`);
            assertClose(pair2, reference2, 2e-6 * args2.K, 1e-5, `second product vs reference: ${what}`);
          }
        }
      } finally {
        api.setThreads(before);
      }
    });

    it('matmul gives the bits of one thread on 2 and 3 threads, whichever bands the threads take', () => {
      const api = addon as NonNullable<typeof addon>;
      const before = api.getThreads();
      // [M, N, K]: row panels that split evenly where column panels do not (22 and 9 of the AVX-512 tile), few
      // column panels, C wider than one packed B block, a narrow B packed whole over several depth steps, B packed
      // step by step; every layout, with edge panels in M and N.
      const shapes = [[256, 288, 300], [300, 40, 700], [37, 3300, 130], [150, 20, 1300], [130, 1000, 600]];
      let seed = 700;
      try {
        for (const [M, N, K] of shapes) {
          for (const [transA, transB] of [[false, false], [false, true], [true, false]]) {
            const args: MatmulArgs = { batch: 1, M, N, K, transA, transB, accumulate: true };
            const a = randn(M * K, seed++), b = randn(K * N, seed++), c0 = randn(M * N, seed++);
            const [one, ...more] = [1, 2, 3].map((threads) => {
              api.setThreads(threads);
              const c = c0.slice();
              nb.matmul(a, b, c, args);
              return c;
            });
            const cRef = c0.slice();
            ref.matmul(a, b, cRef, args);
            assertClose(one, cRef, 2e-6 * K, 1e-5, `matmul ${JSON.stringify(args)}`);
            more.forEach((c, i) => assert.ok(bitsEqual(c, one), `${i + 2} threads vs 1: ${JSON.stringify(args)}`));
          }
        }
      } finally {
        api.setThreads(before);
      }
    });

    it('a chunk of work has the same bits whichever thread runs it: with the workers slowed, the caller runs theirs', () => {
      const api = addon as NonNullable<typeof addon>;
      const before = api.getThreads();
      // Products cut into several chunks per thread (a wide column band, the LoRA job's kind), a pair, bf16 products
      // (whose chunks never repeat packing), attention's tasks and the elementwise and row kernels.
      const a = randn(64 * 96, 800), b = randn(96 * 4864, 801);
      const pa = randn(2048 * 64, 802), pb = randn(64 * 96, 803), pg = randn(2048 * 96, 804);
      const bBits = new Uint16Array(new Uint32Array(randn(256 * 2048, 805).buffer).map((u) => u >>> 16));
      const ba = randn(200 * 256, 806);
      const att = attentionCase(1, 256, 4, 2, 32, null, 807);
      const gate = randn(1 << 18, 808), up = randn(1 << 18, 809), x = randn(512 * 896, 810), w = randn(896, 811);
      const runAll = (): Float32Array[] => {
        const c = new Float32Array(64 * 4864);
        nb.matmul(a, b, c, { batch: 1, M: 64, N: 4864, K: 96, transA: false, transB: false, accumulate: false });
        const c1 = new Float32Array(2048 * 96), c2 = new Float32Array(64 * 96);
        nb.matmulPair(pa, pb, c1, { batch: 1, M: 2048, N: 96, K: 64, transA: false, transB: false, accumulate: false },
          pa, pg, c2, { batch: 1, M: 64, N: 96, K: 2048, transA: true, transB: false, accumulate: false });
        const cb = new Float32Array(200 * 2048);
        nb.matmulBf16(ba, bBits, cb, { batch: 1, M: 200, N: 2048, K: 256, transA: false, transB: false, accumulate: false });
        const out = new Float32Array(att.q.length), lse = new Float32Array(256 * 4);
        nb.attention(att.q, att.k, att.v, out, lse, att.args);
        const dq = new Float32Array(att.q.length), dk = new Float32Array(att.k.length), dv = new Float32Array(att.v.length);
        nb.attentionBackward(att.dOut, att.q, att.k, att.v, out, lse, dq, dk, dv, att.args);
        const s = new Float32Array(gate.length), normed = new Float32Array(x.length), rstd = new Float32Array(512);
        nb.swiglu(gate, up, s, gate.length);
        nb.rmsnorm(x, w, normed, rstd, 512, 896, 1e-6);
        return [c, c1, c2, cb, out, lse, dq, dk, dv, s, normed, rstd];
      };
      try {
        api.setThreads(1);
        const one = runAll();
        api.setThreads(2);
        const two = runAll();
        const taken = api.slowWorkersForTest(2000);
        const slowed = runAll();
        const takenAfter = api.slowWorkersForTest(0);
        assert.ok(takenAfter - taken >= 8, `the caller ran ${takenAfter - taken} of the slowed workers' chunks`);
        const names = ['matmul', 'pair dx', 'pair dw', 'matmulBf16', 'out', 'lse', 'dq', 'dk', 'dv', 'swiglu', 'rmsnorm', 'rstd'];
        names.forEach((name, i) => {
          assert.ok(bitsEqual(two[i], one[i]), `${name}: 2 threads vs 1`);
          assert.ok(bitsEqual(slowed[i], one[i]), `${name}: slowed workers vs 1 thread`);
        });
      } finally {
        api.slowWorkersForTest(0);
        api.setThreads(before);
      }
    });

    it('gives bit-identical results on reruns and on 1 or 2 threads', () => {
      const api = addon as NonNullable<typeof addon>;
      const before = api.getThreads();
      const M = 300, N = 200, K = 700;
      const a = randn(M * K, 1), b = randn(K * N, 2);
      const att = attentionCase(2, 100, 4, 2, 16, packedSegments(2, 100, 5), 50);
      const win = attentionCase(1, 300, 2, 1, 24, null, 55, 40); // one pair: split into parts, window-balanced
      const V = 5000, logits = randn(64 * V, 3, 5), targets = randInts(64, V, 4);
      const wideA = randn(5 * 700, 6), wideB = randn(700 * 3300, 7);
      const runAll = () => {
        const c = new Float32Array(M * N);
        nb.matmul(a, b, c, { batch: 1, M, N, K, transA: true, transB: false, accumulate: false });
        const wide = new Float32Array(5 * 3300);
        nb.matmul(wideA, wideB, wide, { batch: 1, M: 5, N: 3300, K: 700, transA: false, transB: true, accumulate: false });
        const rows2 = new Float32Array(2 * 3300);
        nb.matmul(wideA, wideB, rows2, { batch: 1, M: 2, N: 3300, K: 700, transA: false, transB: true, accumulate: false });
        const rows2nn = new Float32Array(2 * 3300);
        nb.matmul(wideA, wideB, rows2nn, { batch: 1, M: 2, N: 3300, K: 700, transA: false, transB: false, accumulate: false });
        const { B, T, nHead } = att.args;
        const out = new Float32Array(att.q.length), lse = new Float32Array(B * nHead * T);
        nb.attention(att.q, att.k, att.v, out, lse, att.args);
        const dq = new Float32Array(att.q.length), dk = new Float32Array(att.k.length), dv = new Float32Array(att.v.length);
        nb.attentionBackward(att.dOut, att.q, att.k, att.v, out, lse, dq, dk, dv, att.args);
        const wOut = new Float32Array(win.q.length), wLse = new Float32Array(win.args.nHead * win.args.T);
        nb.attention(win.q, win.k, win.v, wOut, wLse, win.args);
        const wdq = new Float32Array(win.q.length), wdk = new Float32Array(win.k.length), wdv = new Float32Array(win.v.length);
        nb.attentionBackward(win.dOut, win.q, win.k, win.v, wOut, wLse, wdq, wdk, wdv, win.args);
        const losses = new Float32Array(64), ceLse = new Float32Array(64);
        nb.crossEntropy(logits, targets, losses, ceLse, 64, V);
        const ss = new Float32Array([nb.sumSquares(logits, logits.length)]);
        const grad = logits.slice(), gLosses = new Float32Array(64), gLse = new Float32Array(64);
        nb.crossEntropyWithGrad(grad, targets, gLosses, gLse, new Float32Array(64).fill(0.5), 64, V);
        const C = 288, x = logits.subarray(0, 64 * C), w = randn(C, 8), y = new Float32Array(64 * C);
        const rstd = new Float32Array(64), dx = new Float32Array(64 * C), dw = new Float32Array(C);
        nb.rmsnorm(x, w, y, rstd, 64, C, 1e-5);
        nb.rmsnormBackward(y, x, w, rstd, dx, dw, 64, C);
        const sw = new Float32Array(64 * C), dGate = new Float32Array(64 * C), dUp = new Float32Array(64 * C);
        nb.swiglu(x, y, sw, 64 * C);
        nb.swigluBackward(dx, x, y, dGate, dUp, 64 * C);
        const p = x.slice(), m = new Float32Array(64 * C), v = new Float32Array(64 * C);
        nb.adamw(p, dx, m, v, 64 * C, 1e-3, 0.9, 0.999, 1e-8, 0.01, 0.1, 0.001);
        return [c, wide, rows2, rows2nn, out, lse, dq, dk, dv, wOut, wLse, wdq, wdk, wdv, losses, ss, grad, gLosses, y,
          rstd, dx, dw, sw, dGate, dUp, p, m, v];
      };
      try {
        api.setThreads(2);
        const first = runAll();
        const second = runAll();
        api.setThreads(1);
        const single = runAll();
        outputsByPath.set(path, first);
        first.forEach((x, i) => {
          assert.ok(bitsEqual(x, second[i]), `output ${i} differs between two runs`);
          assert.ok(bitsEqual(x, single[i]), `output ${i} differs between 2 threads and 1`);
        });
      } finally {
        api.setThreads(before);
      }
    });

    it('rejects short buffers, bad ids and bad targets with errors naming them', () => {
      const args: MatmulArgs = { batch: 1, M: 4, N: 4, K: 4, transA: false, transB: false, accumulate: false };
      assert.throws(() => nb.matmul(new Float32Array(16), new Float32Array(15), new Float32Array(16), args),
        /native matmul: b has 15 elements, needs 16/);
      assert.throws(() => nb.matmul(new Float32Array(16), new Float32Array(16), new Float32Array(16), { ...args, M: -1 }),
        /native matmul: M must be a non-negative integer/);
      assert.throws(() => nb.embedding(new Float32Array(6), new Int32Array([0, 3]), new Float32Array(4), 2),
        /native embedding: ids\[1\] = 3 is outside \[0, 3\)/);
      assert.throws(() => nb.crossEntropy(new Float32Array(6), new Int32Array([1, -5]), new Float32Array(2), new Float32Array(2), 2, 3),
        /native crossEntropy: targets\[1\] = -5 is outside \[0, 3\) and is not -100/);
      const bad = { B: 1, T: 2, nHead: 3, nKV: 2, hd: 4, scale: 0.5, segments: null, window: null };
      assert.throws(() => nb.attention(new Float32Array(24), new Float32Array(16), new Float32Array(16), new Float32Array(24),
        new Float32Array(6), bad), /native attention: nKV must divide nHead/);
      const badWindow = { ...bad, nHead: 2, window: 0 };
      assert.throws(() => nb.attention(new Float32Array(16), new Float32Array(16), new Float32Array(16), new Float32Array(16),
        new Float32Array(4), badWindow), /native attention: window must be a whole number >= 1 or null/);
    });
  });
}

describe('kernel paths', () => {
  // An addon as an AVX2-only host would report it, recording what it was asked to switch to.
  function avx2Host(): { addon: Parameters<typeof applyIsaFromEnv>[0]; chosen: string[] } {
    const chosen: string[] = [];
    const features = { avx2_fma: true, avx512: false, avx512_bf16: false, amx_tile: false, amx_bf16: false };
    const info: KernelPaths = { path: 'avx2', host: 'avx2', paths: ['avx2'], features };
    return { addon: { kernelPaths: () => info, setKernelPath: (p: string) => void chosen.push(p) }, chosen };
  }

  it('RETUNE_ISA picks a path the host runs and refuses any other with a usage error', () => {
    const { addon, chosen } = avx2Host();
    applyIsaFromEnv(addon, undefined);
    applyIsaFromEnv(addon, '');
    assert.deepEqual(chosen, []);
    applyIsaFromEnv(addon, 'avx2');
    assert.deepEqual(chosen, ['avx2']);
    assert.throws(() => applyIsaFromEnv(addon, 'avx512'),
      (e: unknown) => e instanceof UsageError && /RETUNE_ISA=avx512: this CPU does not run that kernel path \(widest: avx2\); choose one of avx2/.test(e.message));
    assert.throws(() => applyIsaFromEnv(addon, 'portable'), UsageError);
    assert.throws(() => applyIsaFromEnv(addon, 'sse'), /RETUNE_ISA=sse: expected one of avx2 \(the kernel paths this CPU runs\)/);
    assert.deepEqual(chosen, ['avx2']);
  });

  it('the addon lists the host paths narrowest first, switches between them and refuses the rest', { skip: addon === null }, () => {
    const api = addon as NonNullable<typeof addon>;
    const info = api.kernelPaths();
    const before = info.path;
    assert.ok(info.paths.length >= 1 && info.paths.at(-1) === info.host);
    const order = info.paths.map((p) => (kernelPathNames as readonly string[]).indexOf(p));
    assert.deepEqual(order, [...order].sort((x, y) => x - y));
    assert.equal(info.features.avx512, info.paths.includes('avx512'));
    try {
      for (const path of info.paths) {
        api.setKernelPath(path);
        assert.equal(api.kernelPaths().path, path);
        assert.equal((native as Backend).kernelPath, path);
      }
      for (const path of kernelPathNames.filter((p) => !info.paths.includes(p))) {
        assert.throws(() => api.setKernelPath(path), new RegExp(`setKernelPath: '${path}' is not a kernel path this CPU runs`));
      }
      assert.throws(() => api.setKernelPath('avx1024'), RangeError);
    } finally {
      api.setKernelPath(before);
    }
  });

  it('every kernel gives the same bits on every path (the determinism test\'s outputs)', { skip: addon === null }, () => {
    assert.deepEqual([...outputsByPath.keys()], hostPaths);
    const [first, ...rest] = [...outputsByPath.entries()];
    for (const [path, outputs] of rest) {
      outputs.forEach((x, i) => assert.ok(bitsEqual(x, first[1][i]), `output ${i}: ${path} vs ${first[0]}`));
    }
  });

  it('matmul gives the same bits on every path: each element sums its products in the same order', { skip: addon === null }, () => {
    const api = addon as NonNullable<typeof addon>;
    const { path: before, paths } = api.kernelPaths();
    try {
      let seed = 900;
      for (const [M, N, K] of [[37, 97, 45], [150, 70, 600], [13, 3300, 130]]) {
        for (const [transA, transB] of [[false, false], [false, true], [true, false]]) {
          const args: MatmulArgs = { batch: 1, M, N, K, transA, transB, accumulate: true };
          const a = randn(M * K, seed++), b = randn(K * N, seed++), c0 = randn(M * N, seed++);
          const results = paths.map((path) => {
            api.setKernelPath(path);
            const c = c0.slice();
            api.matmul(a, b, c, args);
            return c;
          });
          results.forEach((c, i) => assert.ok(bitsEqual(c, results[0]), `${paths[i]} vs ${paths[0]}: ${JSON.stringify(args)}`));
        }
      }
    } finally {
      api.setKernelPath(before);
    }
  });
});

// Each GEMM micro-kernel the host runs, whatever the path: on an AVX2-only host too, the AVX-512 kernel's source
// runs (on pairs of ymm registers) and is checked here.
describe('GEMM micro-kernels chosen with setGemmKernel', { skip: addon === null ? 'native addon not built' : false }, () => {
  const api = addon as NonNullable<typeof addon>;
  after(() => api.setGemmKernel(''));

  it('lists the AVX-512 source on ymm pairs wherever AVX2 runs, and refuses other names', () => {
    const kernels = api.gemmKernels();
    assert.equal(kernels.includes('avx512 12x32 as ymm pairs'), api.kernelPaths().features.avx2_fma);
    assert.ok(kernels.includes(api.kernelName()), `${api.kernelName()} is one of ${kernels.join(', ')}`);
    assert.throws(() => api.setGemmKernel('avx1024 1x1'), /setGemmKernel: 'avx1024 1x1' is not a GEMM kernel this CPU runs/);
  });

  it('every kernel matches the reference and gives the bits of the path\'s own kernel', () => {
    const pathKernel = api.kernelName();
    for (const { args, a, b, c0 } of matmulCases()) {
      const cRef = c0.slice(), cPath = c0.slice();
      ref.matmul(a, b, cRef, args);
      api.matmul(a, b, cPath, args);
      for (const kernel of api.gemmKernels()) {
        api.setGemmKernel(kernel);
        assert.equal(api.kernelName(), kernel);
        const c = c0.slice();
        api.matmul(a, b, c, args);
        api.setGemmKernel('');
        const what = `${kernel}: matmul ${JSON.stringify(args)}`;
        assertClose(c, cRef, 2e-6 * args.K, 1e-5, what);
        assert.ok(bitsEqual(c, cPath), `${what} differs from ${pathKernel}`);
      }
    }
    assert.equal(api.kernelName(), pathKernel);
  });
});

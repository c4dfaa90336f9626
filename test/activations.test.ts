/** erf and the GPT-2 activations against values computed independently with Python's math module. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { erf } from '../src/tensor/math.js';
import { ACTIVATIONS, parseActivation } from '../src/tensor/activations.js';

const X = [-3.0, -1.0, -0.5, 0.0, 0.1, 0.5, 1.0, 2.0, 3.0, 4.5];
// python3: math.erf / formulas of transformers.activations, float64.
const PY = {
  erf: [-0.9999779095030014, -0.8427007929497149, -0.5204998778130465, 0.0, 0.1124629160182849, 0.5204998778130465, 0.8427007929497149, 0.9953222650189527, 0.9999779095030014, 0.9999999998033839],
  gelu: [-0.00404969409489031, -0.15865525393145707, -0.15426876936299344, 0.0, 0.053982783727702904, 0.34573123063700656, 0.8413447460685429, 1.9544997361036416, 2.99595030590511, 4.4999847104709385],
  gelu_new: [-0.0036373920817729943, -0.15880800939172324, -0.15428599017485606, 0.0, 0.053982751045435165, 0.34571400982514394, 0.8411919906082768, 1.954597694087775, 2.996362607918227, 4.499994863262588],
  gelu_fast: [-0.003637392081860591, -0.1588080093925231, -0.15428599017516514, 0.0, 0.05398275104542092, 0.34571400982483486, 0.841191990607477, 1.9545976940871754, 2.9963626079181394, 4.499994863262588],
  quick_gelu: [-0.01807130970778597, -0.1542042340671787, -0.1496115633936199, 0.0, 0.054244758083618186, 0.35038843660638014, 0.8457957659328212, 1.9356586231442083, 2.981928690292214, 4.497877995824186],
};

function close(a: number, b: number, tol: number): boolean {
  return Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));
}

test('erf matches math.erf to 1e-14', () => {
  X.forEach((x, i) => assert.ok(close(erf(x), PY.erf[i], 1e-14), `erf(${x}) = ${erf(x)}`));
  assert.equal(erf(7), 1);
  assert.equal(erf(-7), -1);
  assert.ok(Number.isNaN(erf(NaN)));
});

test('erf is odd, monotone and bounded', () => {
  fc.assert(
    fc.property(fc.double({ min: -8, max: 8, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (x, d) => {
      assert.ok(close(erf(-x), -erf(x), 1e-15));
      assert.ok(erf(x + d) >= erf(x) - 1e-16);
      assert.ok(Math.abs(erf(x)) <= 1);
    }),
  );
});

test('GELU variants match transformers formulas', () => {
  for (const name of ['gelu', 'gelu_new', 'gelu_fast', 'quick_gelu'] as const) {
    X.forEach((x, i) => assert.ok(close(ACTIVATIONS[name](x), PY[name][i], 1e-12), `${name}(${x})`));
  }
  // Aliases transformers maps to the same functions.
  for (const x of X) {
    assert.equal(ACTIVATIONS.gelu_pytorch_tanh(x), ACTIVATIONS.gelu_new(x));
    assert.equal(ACTIVATIONS.gelu_python(x), ACTIVATIONS.gelu(x));
    assert.equal(ACTIVATIONS.swish(x), ACTIVATIONS.silu(x));
  }
  assert.equal(ACTIVATIONS.relu(-2), 0);
  assert.equal(ACTIVATIONS.relu6(9), 6);
  assert.equal(ACTIVATIONS.relu2(3), 9);
  assert.equal(ACTIVATIONS.leaky_relu(-1), -0.01);
  assert.equal(ACTIVATIONS.gelu_10(50), 10);
  assert.equal(ACTIVATIONS.linear(-3.5), -3.5);
});

test('unknown activation names are a typed config error listing the valid ones', () => {
  assert.throws(() => parseActivation('swiglu'), (e: Error & { code?: string; hint?: string }) => {
    assert.equal(e.code, 'CONFIG_INVALID');
    assert.match(e.hint ?? '', /gelu_fast/);
    return true;
  });
  assert.equal(parseActivation('gelu_fast'), 'gelu_fast');
});

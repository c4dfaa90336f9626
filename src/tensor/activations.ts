/**
 * Every activation name transformers' ACT2FN accepts for GPT-2's `activation_function`,
 * with the exact formulas of transformers/activations.py. Parameterised ones that carry learned
 * weights (`prelu`, `xielu`) cannot appear in a GPT-2 MLP and are rejected.
 */
import { FugakuError } from '../errors.js';
import { erf } from './math.js';

export type ActivationName =
  | 'gelu' | 'gelu_python' | 'gelu_new' | 'gelu_fast' | 'gelu_pytorch_tanh' | 'gelu_accurate'
  | 'gelu_10' | 'quick_gelu' | 'laplace' | 'relu' | 'relu2' | 'relu6' | 'leaky_relu'
  | 'sigmoid' | 'silu' | 'swish' | 'tanh' | 'mish' | 'linear';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

const gelu = (x: number): number => 0.5 * x * (1 + erf(x / Math.SQRT2));
const geluTanh = (x: number): number => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));

/** Scalar definitions (the specification; backends may vectorise them). */
export const ACTIVATIONS: Readonly<Record<ActivationName, (x: number) => number>> = {
  gelu,
  gelu_python: gelu,
  // NewGELUActivation / PytorchGELUTanh / AccurateGELU: the tanh approximation.
  gelu_new: geluTanh,
  gelu_pytorch_tanh: geluTanh,
  gelu_accurate: geluTanh,
  // FastGELUActivation: 0.5x(1 + tanh(x·0.7978845608·(1 + 0.044715x²)))
  gelu_fast: (x) => 0.5 * x * (1 + Math.tanh(x * 0.7978845608 * (1 + 0.044715 * x * x))),
  // ClippedGELUActivation(min=-10, max=10)
  gelu_10: (x) => Math.min(10, Math.max(-10, gelu(x))),
  quick_gelu: (x) => x / (1 + Math.exp(-1.702 * x)),
  // LaplaceActivation(mu=0.707107, sigma=0.282095)
  laplace: (x) => 0.5 * (1 + erf((x - 0.707107) / (0.282095 * Math.SQRT2))),
  relu: (x) => (x > 0 ? x : 0),
  relu2: (x) => (x > 0 ? x * x : 0),
  relu6: (x) => Math.min(6, Math.max(0, x)),
  leaky_relu: (x) => (x >= 0 ? x : 0.01 * x),
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  silu: (x) => x / (1 + Math.exp(-x)),
  swish: (x) => x / (1 + Math.exp(-x)),
  tanh: Math.tanh,
  // MishActivation: x·tanh(softplus(x)); softplus with PyTorch's threshold 20.
  mish: (x) => x * Math.tanh(x > 20 ? x : Math.log1p(Math.exp(x))),
  linear: (x) => x,
};

export function isActivationName(name: string): name is ActivationName {
  return Object.prototype.hasOwnProperty.call(ACTIVATIONS, name);
}

export function parseActivation(name: unknown): ActivationName {
  if (typeof name === 'string' && isActivationName(name)) return name;
  throw new FugakuError(
    'CONFIG_INVALID',
    `config.json: activation_function ${JSON.stringify(name)} is not supported`,
    `use one of ${Object.keys(ACTIVATIONS).join(', ')}`,
  );
}

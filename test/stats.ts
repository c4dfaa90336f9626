/** Statistics helpers shared by the sampler tests (chi-square goodness of fit). */
import assert from 'node:assert/strict';

/**
 * 0.999 quantiles of the chi-square distribution (upper-tail probability 0.001), from the standard table
 * (NIST/SEMATECH e-Handbook of Statistical Methods, section 1.3.6.7.4 "Critical Values of the Chi-Square
 * Distribution"). The test `critical values are the 0.999 quantiles` recomputes the CDF at each to check them.
 */
export const CHI2_999: Record<number, number> = {
  1: 10.828, 2: 13.816, 3: 16.266, 4: 18.467, 5: 20.515, 6: 22.458, 7: 24.322, 8: 26.125, 9: 27.877,
  10: 29.588, 11: 31.264, 12: 32.909, 13: 34.528, 14: 36.123, 15: 37.697,
};

/** ln Γ(z) for z > 0 (Lanczos, g = 7, n = 9; ~1e-15 relative accuracy). */
export function lnGamma(z: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (z < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * z)) - lnGamma(1 - z);
  z -= 1;
  let x = c[0];
  for (let i = 1; i < 9; i++) x += c[i] / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(x);
}

/** Chi-square CDF with k degrees of freedom = regularized lower incomplete gamma P(k/2, x/2) (power series). */
export function chi2Cdf(x: number, k: number): number {
  const a = k / 2;
  const y = x / 2;
  let term = 1 / a;
  let sum = term;
  for (let n = 1; n < 1000; n++) {
    term *= y / (a + n);
    sum += term;
    if (term < sum * 1e-16) break;
  }
  return Math.exp(-y + a * Math.log(y) - lnGamma(a)) * sum;
}

export function chiSquare(counts: number[], expectedProbs: number[], total: number): number {
  let stat = 0;
  for (let i = 0; i < counts.length; i++) {
    if (expectedProbs[i] === 0) {
      assert.equal(counts[i], 0, `token ${i} has probability 0 but was drawn ${counts[i]} times`);
      continue;
    }
    const e = expectedProbs[i] * total;
    stat += (counts[i] - e) ** 2 / e;
  }
  return stat;
}

export function softmax64(xs: ArrayLike<number>): number[] {
  let m = -Infinity;
  for (let i = 0; i < xs.length; i++) m = Math.max(m, xs[i]);
  const e = Array.from(xs, (x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}


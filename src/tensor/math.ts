/**
 * Scalar math the activations need and JavaScript lacks.
 *
 * erf: JavaScript has no Math.erf. We use the everywhere-convergent series
 *   erf(x) = 2/√π · e^{-x²} · Σ_{n≥0} 2ⁿ x^{2n+1} / (1·3·5···(2n+1))
 * whose terms are all positive (no cancellation), so it is accurate to ~1e-15 relative in
 * float64 for |x| < 6; beyond that erf(x) = ±1 to double precision (erfc(6) ≈ 2e-17).
 * It costs up to ~100 terms for large |x|, which is negligible next to the matmuls.
 */
const TWO_OVER_SQRT_PI = 1.1283791670955126;

export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax >= 6) return x > 0 ? 1 : -1;
  const x2 = ax * ax;
  let term = ax; // n = 0 term: x
  let sum = ax;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  const r = TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
  return x < 0 ? -r : r;
}

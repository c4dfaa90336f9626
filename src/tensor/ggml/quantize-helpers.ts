/**
 * The helper searches of ggml's quantizers (ggml/src/ggml-quants.c, llama.cpp commit 80fb11a, MIT):
 * nearest_int, make_qx_quants, make_q3_quants, make_qkx2_quants, make_qkx3_quants, make_qp_quants,
 * best_index_int8. Each float operation is a float32 operation (Math.fround after it), in C order.
 * Arrays are passed with an offset instead of a pointer.
 */

/** Rounds to float32 (one C float operation). */
export const f = Math.fround;

/** GROUP_MAX_EPS (1e-15f). */
export const GROUP_MAX_EPS = Math.fround(1e-15);

/**
 * ggml's nearest_int (the 12582912.f trick): round half to even for |x| ≤ 4194303; beyond that
 * (and for ±inf, NaN, which searches on f32-subnormal or overflowing weights produce) the trick's
 * own result, (bits(f32(x + 12582912)) & 0x7fffff) − 0x400000, as ggml (built with NDEBUG) returns it.
 */
export function nearestInt(x: number): number {
  if (Math.abs(x) <= 4194303) {
    const r = Math.round(x);
    return r - x === 0.5 && (r & 1) !== 0 ? r - 1 : r;
  }
  return f32MantissaBits(f(x + 12582912)) - 0x00400000;
}

/** The 23 mantissa bits of a float32 value (NaN: the quiet bit, as the CPU's default NaN has). */
function f32MantissaBits(v: number): number {
  if (Number.isNaN(v)) return 0x00400000;
  const a = Math.abs(v);
  if (a === Infinity || a === 0) return 0;
  if (a < 2 ** -126) return a / 2 ** -149; // subnormal: the mantissa is the value in units of 2^-149
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  return (a / 2 ** e - 1) * 2 ** 23;
}

/** Writes an f16 bit pattern little-endian. */
export function setF16(y: Uint8Array, at: number, h: number): void {
  y[at] = h & 0xff;
  y[at + 1] = h >> 8;
}

/** make_qx_quants; L is int8. `qw` (weights) may be null (then rmse_type picks the weight). */
export function makeQxQuants(
  n: number, nmax: number, x: Float32Array, xo: number, L: Int8Array, Lo: number, rmseType: number,
  qw: Float32Array | null, qwo: number,
): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xo + i]);
    if (ax > amax) {
      amax = ax;
      max = x[xo + i];
    }
  }
  if (amax < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[Lo + i] = 0;
    return 0;
  }
  let iscale = f(-nmax / max);
  if (rmseType === 0) {
    for (let i = 0; i < n; i++) {
      const l = nearestInt(f(iscale * x[xo + i]));
      L[Lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, l));
    }
    return f(1 / iscale);
  }
  let returnEarly = false;
  if (rmseType < 0) {
    rmseType = -rmseType;
    returnEarly = true;
  }
  const weight = (i: number): number => {
    const xi = x[xo + i];
    if (qw) return qw[qwo + i];
    if (rmseType === 1) return f(xi * xi);
    if (rmseType === 2) return 1;
    if (rmseType === 3) return Math.abs(xi);
    return f(Math.sqrt(Math.abs(xi)));
  };
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    let l = nearestInt(f(iscale * x[xo + i]));
    l = Math.max(-nmax, Math.min(nmax - 1, l));
    L[Lo + i] = l + nmax;
    const w = weight(i);
    sumlx = f(sumlx + f(f(w * x[xo + i]) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  let scale = suml2 ? f(sumlx / suml2) : 0;
  if (returnEarly) return suml2 > 0 ? f(0.5 * f(scale + f(1 / iscale))) : f(1 / iscale);
  let best = f(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = f(-f(nmax + f(f(0.1) * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      let l = nearestInt(f(iscale * x[xo + i]));
      l = Math.max(-nmax, Math.min(nmax - 1, l));
      const w = weight(i);
      sumlx = f(sumlx + f(f(w * x[xo + i]) * l));
      suml2 = f(suml2 + f(f(w * l) * l));
    }
    if (suml2 > 0 && f(sumlx * sumlx) > f(best * suml2)) {
      for (let i = 0; i < n; i++) {
        const l = nearestInt(f(iscale * x[xo + i]));
        L[Lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, l));
      }
      scale = f(sumlx / suml2);
      best = f(scale * sumlx);
    }
  }
  return scale;
}

/** make_q3_quants; L is int8. */
export function makeQ3Quants(n: number, nmax: number, x: Float32Array, xo: number, L: Int8Array, Lo: number, doRmse: boolean): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xo + i]);
    if (ax > amax) {
      amax = ax;
      max = x[xo + i];
    }
  }
  if (amax < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[Lo + i] = 0;
    return 0;
  }
  const iscale = f(-nmax / max);
  if (doRmse) {
    let sumlx = 0;
    let suml2 = 0;
    for (let i = 0; i < n; i++) {
      let l = nearestInt(f(iscale * x[xo + i]));
      l = Math.max(-nmax, Math.min(nmax - 1, l));
      L[Lo + i] = l;
      const xi = x[xo + i];
      const w = f(xi * xi);
      sumlx = f(sumlx + f(f(w * xi) * l));
      suml2 = f(suml2 + f(f(w * l) * l));
    }
    for (let itry = 0; itry < 5; itry++) {
      let nChanged = 0;
      for (let i = 0; i < n; i++) {
        const xi = x[xo + i];
        const w = f(xi * xi);
        const Li = L[Lo + i];
        let slx = f(sumlx - f(f(w * xi) * Li));
        if (slx > 0) {
          let sl2 = f(suml2 - f(f(w * Li) * Li));
          let newL = nearestInt(f(f(xi * sl2) / slx));
          newL = Math.max(-nmax, Math.min(nmax - 1, newL));
          if (newL !== Li) {
            slx = f(slx + f(f(w * xi) * newL));
            sl2 = f(sl2 + f(f(w * newL) * newL));
            if (sl2 > 0 && f(f(slx * slx) * suml2) > f(f(sumlx * sumlx) * sl2)) {
              L[Lo + i] = newL;
              sumlx = slx;
              suml2 = sl2;
              ++nChanged;
            }
          }
        }
      }
      if (!nChanged) break;
    }
    for (let i = 0; i < n; i++) L[Lo + i] += nmax;
    return suml2 > 0 ? f(sumlx / suml2) : 0;
  }
  for (let i = 0; i < n; i++) {
    let l = nearestInt(f(iscale * x[xo + i]));
    l = Math.max(-nmax, Math.min(nmax - 1, l));
    L[Lo + i] = l + nmax;
  }
  return f(1 / iscale);
}

/** make_qkx2_quants; L/Laux are uint8; the min (negated, as in C) goes to theMin[0]. */
export function makeQkx2Quants(
  n: number, nmax: number, x: Float32Array, xo: number, weights: Float32Array, L: Uint8Array, Lo: number,
  theMin: Float32Array, Laux: Uint8Array, rmin: number, rdelta: number, nstep: number, useMad: boolean,
): number {
  let min = x[xo];
  let max = x[xo];
  let sumW = weights[0];
  let sumX = f(sumW * x[xo]);
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i];
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = weights[i];
    sumW = f(sumW + w);
    sumX = f(sumX + f(w * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    for (let i = 0; i < n; i++) L[Lo + i] = 0;
    theMin[0] = -min;
    return 0;
  }
  let iscale = f(nmax / f(max - min));
  let scale = f(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const l = nearestInt(f(iscale * f(x[xo + i] - min)));
    L[Lo + i] = Math.max(0, Math.min(nmax, l));
    let diff = f(f(f(scale * L[Lo + i]) + min) - x[xo + i]);
    diff = useMad ? Math.abs(diff) : f(diff * diff);
    bestError = f(bestError + f(weights[i] * diff));
  }
  if (nstep < 1) {
    theMin[0] = -min;
    return scale;
  }
  for (let is = 0; is <= nstep; is++) {
    iscale = f(f(f(rmin + f(rdelta * is)) + nmax) / f(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      let l = nearestInt(f(iscale * f(x[xo + i] - min)));
      l = Math.max(0, Math.min(nmax, l));
      Laux[i] = l;
      const w = weights[i];
      sumL = f(sumL + f(w * l));
      sumL2 = f(sumL2 + f(f(w * l) * l));
      sumXL = f(sumXL + f(f(w * l) * x[xo + i]));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (D > 0) {
      let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
      let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = f(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        let diff = f(f(f(thisScale * Laux[i]) + thisMin) - x[xo + i]);
        diff = useMad ? Math.abs(diff) : f(diff * diff);
        curError = f(curError + f(weights[i] * diff));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; i++) L[Lo + i] = Laux[i];
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  theMin[0] = -min;
  return scale;
}

/** make_qkx3_quants (weights null: x²). */
export function makeQkx3Quants(
  n: number, nmax: number, x: Float32Array, xo: number, weights: Float32Array | null, L: Uint8Array, Lo: number,
  theMin: Float32Array, Laux: Uint8Array, rmin: number, rdelta: number, nstep: number, useMad: boolean,
): number {
  const wAt = (i: number): number => (weights ? weights[i] : f(x[xo + i] * x[xo + i]));
  let min = x[xo];
  let max = x[xo];
  let sumW = wAt(0);
  let sumX = f(sumW * x[xo]);
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i];
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = wAt(i);
    sumW = f(sumW + w);
    sumX = f(sumX + f(w * xi));
  }
  if (min > 0) min = 0;
  if (max <= min) {
    for (let i = 0; i < n; i++) L[Lo + i] = 0;
    theMin[0] = -min;
    return 0;
  }
  let iscale = f(nmax / f(max - min));
  let scale = f(1 / iscale);
  let bestMad = 0;
  for (let i = 0; i < n; i++) {
    const l = nearestInt(f(iscale * f(x[xo + i] - min)));
    L[Lo + i] = Math.max(0, Math.min(nmax, l));
    let diff = f(f(f(scale * L[Lo + i]) + min) - x[xo + i]);
    diff = useMad ? Math.abs(diff) : f(diff * diff);
    bestMad = f(bestMad + f(wAt(i) * diff));
  }
  if (nstep < 1) {
    theMin[0] = -min;
    return scale;
  }
  for (let is = 0; is <= nstep; is++) {
    iscale = f(f(f(rmin + f(rdelta * is)) + nmax) / f(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      let l = nearestInt(f(iscale * f(x[xo + i] - min)));
      l = Math.max(0, Math.min(nmax, l));
      Laux[i] = l;
      const w = wAt(i);
      sumL = f(sumL + f(w * l));
      sumL2 = f(sumL2 + f(f(w * l) * l));
      sumXL = f(sumXL + f(f(w * l) * x[xo + i]));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (D > 0) {
      let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
      let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = f(sumXL / sumL2);
      }
      let mad = 0;
      for (let i = 0; i < n; i++) {
        let diff = f(f(f(thisScale * Laux[i]) + thisMin) - x[xo + i]);
        diff = useMad ? Math.abs(diff) : f(diff * diff);
        mad = f(mad + f(wAt(i) * diff));
      }
      if (mad < bestMad) {
        for (let i = 0; i < n; i++) L[Lo + i] = Laux[i];
        bestMad = mad;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  theMin[0] = -min;
  return scale;
}

/** make_qp_quants; L is uint8. */
export function makeQpQuants(n: number, nmax: number, x: Float32Array, L: Uint8Array, qw: Float32Array): number {
  let max = 0;
  for (let i = 0; i < n; i++) max = Math.max(max, x[i]);
  if (max < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[i] = 0;
    return 0;
  }
  let iscale = f(nmax / max);
  for (let i = 0; i < n; i++) L[i] = nearestInt(f(iscale * x[i]));
  const scale = f(1 / iscale);
  let bestMse = 0;
  for (let i = 0; i < n; i++) {
    const diff = f(x[i] - f(scale * L[i]));
    bestMse = f(bestMse + f(f(qw[i] * diff) * diff));
  }
  for (let is = -4; is <= 4; is++) {
    if (is === 0) continue;
    const iscaleIs = f(f(f(f(0.1) * is) + nmax) / max);
    const scaleIs = f(1 / iscaleIs);
    let mse = 0;
    for (let i = 0; i < n; i++) {
      let l = nearestInt(f(iscaleIs * x[i]));
      l = Math.min(nmax, l);
      const diff = f(x[i] - f(scaleIs * l));
      mse = f(mse + f(f(qw[i] * diff) * diff));
    }
    if (mse < bestMse) {
      bestMse = mse;
      iscale = iscaleIs;
    }
  }
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    let l = nearestInt(f(iscale * x[i]));
    l = Math.min(nmax, l);
    L[i] = l;
    const w = qw[i];
    sumlx = f(sumlx + f(f(w * x[i]) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let nChanged = 0;
    for (let i = 0; i < n; i++) {
      const w = qw[i];
      const Li = L[i];
      let slx = f(sumlx - f(f(w * x[i]) * Li));
      let sl2 = f(suml2 - f(f(w * Li) * Li));
      if (slx > 0 && sl2 > 0) {
        let newL = nearestInt(f(f(x[i] * sl2) / slx));
        newL = Math.min(nmax, newL);
        if (newL !== Li) {
          slx = f(slx + f(f(w * x[i]) * newL));
          sl2 = f(sl2 + f(f(w * newL) * newL));
          if (f(f(slx * slx) * suml2) > f(f(sumlx * sumlx) * sl2)) {
            L[i] = newL;
            sumlx = slx;
            suml2 = sl2;
            ++nChanged;
          }
        }
      }
    }
    if (!nChanged) break;
  }
  return suml2 > 0 ? f(sumlx / suml2) : 0;
}

/** best_index_int8: the index of the value in the sorted table `val` nearest to x. */
export function bestIndexInt8(n: number, val: Int8Array, x: number): number {
  if (x <= val[0]) return 0;
  if (x >= val[n - 1]) return n - 1;
  let ml = 0;
  let mu = n - 1;
  while (mu - ml > 1) {
    const mav = (ml + mu) >> 1;
    if (x < val[mav]) mu = mav;
    else ml = mav;
  }
  return f(x - val[mu - 1]) < f(val[mu] - x) ? mu - 1 : mu;
}

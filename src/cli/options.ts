/** Parsers for CLI option values: each rejects bad input with a message commander prints on one line. */
import { InvalidArgumentError } from 'commander';

export function intArg(name: string, min = -Infinity, max = Infinity) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      const range = min > -Infinity ? (max < Infinity ? ` in ${min}..${max}` : ` >= ${min}`) : '';
      throw new InvalidArgumentError(`${name} must be an integer${range}, got ${JSON.stringify(v)}.`);
    }
    return n;
  };
}

export function floatArg(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number, got ${JSON.stringify(v)}.`);
    return n;
  };
}

export function idsArg(v: string): number[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(v);
  } catch {
    throw new InvalidArgumentError(`--input-ids must be a JSON array of token ids, e.g. [31,26467], got ${JSON.stringify(v)}.`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((x) => Number.isInteger(x) && x >= 0)) {
    throw new InvalidArgumentError('--input-ids must be a non-empty JSON array of non-negative integers.');
  }
  return parsed as number[];
}

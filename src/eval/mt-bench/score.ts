/**
 * MT-Bench scores from single judgments, as the Nejumi leaderboard reports them: every judgment line with
 * a score (score -1 lines are failed judgments: counted, excluded) is one sample; a category's score is
 * the mean over its samples of both turns; the average is the mean of the category means (the model card:
 * avg 5.47 = mean of its 8 category numbers); per-turn means are over all samples of that turn (FastChat
 * show_result.py). Like show_result.py, every line counts (a duplicated line counts twice).
 */
import { FugakuError } from '../../errors.js';
import { CATEGORIES, type Category } from './data.js';
import type { JudgmentRecord } from './judge.js';

export interface ModelScore {
  model: string;
  /** Mean score per category (only categories with at least one scored judgment). */
  categories: Partial<Record<Category, number>>;
  /** Mean of the category means. */
  average: number;
  /** Mean per turn ("1", "2"). */
  turns: Record<string, number>;
  /** Judgment lines of this model (failed ones included). */
  judgments: number;
  /** Lines with score -1 (no parsable rating), excluded from the means. */
  failed: number;
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Scores per model, in order of first appearance. `categoryOf` maps question ids to categories. */
export function scoreJudgments(judgments: readonly JudgmentRecord[], categoryOf: ReadonlyMap<number, Category>): ModelScore[] {
  const models = new Map<string, JudgmentRecord[]>();
  for (const j of judgments) {
    if (!categoryOf.has(j.question_id)) {
      throw new FugakuError('INVALID_ARGUMENT', `judgment for question ${j.question_id} (model ${j.model}), which is not in the question file`, 'score with the question file the answers were generated from (--questions / --revision)');
    }
    const list = models.get(j.model) ?? [];
    list.push(j);
    models.set(j.model, list);
  }
  const out: ModelScore[] = [];
  for (const [model, list] of models) {
    const scored = list.filter((j) => j.score !== -1);
    const byCat = new Map<Category, number[]>();
    const byTurn = new Map<number, number[]>();
    for (const j of scored) {
      const c = categoryOf.get(j.question_id)!;
      byCat.set(c, [...(byCat.get(c) ?? []), j.score]);
      byTurn.set(j.turn, [...(byTurn.get(j.turn) ?? []), j.score]);
    }
    const categories: Partial<Record<Category, number>> = {};
    for (const c of CATEGORIES) {
      const xs = byCat.get(c);
      if (xs) categories[c] = mean(xs);
    }
    const turns: Record<string, number> = {};
    for (const t of [...byTurn.keys()].sort((a, b) => a - b)) turns[String(t)] = mean(byTurn.get(t)!);
    const catMeans = Object.values(categories) as number[];
    out.push({ model, categories, average: catMeans.length > 0 ? mean(catMeans) : NaN, turns, judgments: list.length, failed: list.length - scored.length });
  }
  return out;
}

/** The `--json` line of one model (NaN → null). */
export function scoreToJSON(s: ModelScore): Record<string, unknown> {
  const num = (x: number): number | null => (Number.isFinite(x) ? x : null);
  return {
    model: s.model,
    categories: Object.fromEntries(Object.entries(s.categories).map(([k, v]) => [k, num(v as number)])),
    average: num(s.average),
    turns: Object.fromEntries(Object.entries(s.turns).map(([k, v]) => [k, num(v)])),
    judgments: s.judgments,
    failed: s.failed,
  };
}

/** A text table in the model card's column order: model, avg, coding … writing, turn 1, turn 2, n, failed. */
export function formatScoreTable(scores: readonly ModelScore[]): string {
  const header = ['model', 'avg', ...CATEGORIES, 'turn1', 'turn2', 'n', 'failed'];
  const f = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(2));
  const rows = scores.map((s) => [s.model, f(s.average), ...CATEGORIES.map((c) => f(s.categories[c])), f(s.turns['1']), f(s.turns['2']), String(s.judgments), String(s.failed)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

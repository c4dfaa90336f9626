/**
 * A grouped bar chart (SVG, no dependencies) of MT-Bench scores: one group per column of the model card
 * (avg, coding … writing), one bar per run, y axis 0–10.
 */
import { CATEGORIES, type Category } from './data.js';

export interface ChartSeries {
  label: string;
  average: number;
  categories: Partial<Record<Category, number>>;
}

const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

const fmt = (x: number): string => (Math.round(x * 100) / 100).toString();

export function renderBarChart(series: readonly ChartSeries[], title = 'Japanese MT-Bench (1–10)'): string {
  const groups = ['avg', ...CATEGORIES] as const;
  const n = Math.max(1, series.length);
  const barW = Math.max(6, Math.min(22, Math.floor(84 / n)));
  const groupW = n * barW + 18;
  const left = 48;
  const top = 40;
  const plotH = 260;
  const legendH = 20 * series.length + 10;
  const width = left + groups.length * groupW + 20;
  const height = top + plotH + 40 + legendH;
  const y = (v: number): number => top + plotH - (Math.max(0, Math.min(10, v)) / 10) * plotH;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  parts.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`);
  for (let v = 0; v <= 10; v += 2) {
    parts.push(`<line x1="${left}" x2="${width - 20}" y1="${y(v)}" y2="${y(v)}" stroke="#dddddd"/>`);
    parts.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end" fill="#555555">${v}</text>`);
  }
  groups.forEach((g, gi) => {
    const gx = left + gi * groupW + 9;
    series.forEach((s, si) => {
      const v = g === 'avg' ? s.average : s.categories[g];
      if (v === undefined || !Number.isFinite(v)) return;
      const x = gx + si * barW;
      parts.push(`<rect x="${x}" y="${y(v).toFixed(1)}" width="${barW - 2}" height="${(top + plotH - y(v)).toFixed(1)}" fill="${COLORS[si % COLORS.length]}"><title>${escapeXml(`${s.label} — ${g}: ${fmt(v)}`)}</title></rect>`);
      if (barW >= 14) parts.push(`<text x="${x + (barW - 2) / 2}" y="${(y(v) - 3).toFixed(1)}" text-anchor="middle" font-size="8" fill="#333333">${fmt(v)}</text>`);
    });
    parts.push(`<text x="${gx + (n * barW) / 2}" y="${top + plotH + 16}" text-anchor="middle"${g === 'avg' ? ' font-weight="bold"' : ''}>${g}</text>`);
  });
  parts.push(`<line x1="${left}" x2="${width - 20}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333333"/>`);
  series.forEach((s, si) => {
    const ly = top + plotH + 40 + si * 20;
    parts.push(`<rect x="${left}" y="${ly - 10}" width="12" height="12" fill="${COLORS[si % COLORS.length]}"/>`);
    parts.push(`<text x="${left + 18}" y="${ly}">${escapeXml(`${s.label} (avg ${Number.isFinite(s.average) ? fmt(s.average) : '-'})`)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/** Human renderings of values and changes, short enough for a terminal line. */
import type { FieldChange } from '../patch/desired.js';

const MAX = 60;

function clip(text: string, from = 0): string {
  const start = Math.max(0, from - 20);
  const piece = text.slice(start, start + MAX);
  return `${start > 0 ? '…' : ''}${piece}${start + MAX < text.length ? '…' : ''}`;
}

/** Where two strings first differ. */
function firstDifference(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** A moment as operators read it in lines and tables: `2026-12-04 10:31:07` (UTC). */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

export function formatValue(value: unknown, around = 0): string {
  if (value === undefined) return '(absent)';
  if (typeof value === 'string') return JSON.stringify(clip(value, around));
  const json = JSON.stringify(value);
  return json.length > MAX ? `${json.slice(0, MAX)}…` : json;
}

export function formatChange(change: FieldChange): string {
  const at = typeof change.before === 'string' && typeof change.after === 'string' ? firstDifference(change.before, change.after) : 0;
  return `${change.path}: ${formatValue(change.before, at)} → ${formatValue(change.after, at)}`;
}

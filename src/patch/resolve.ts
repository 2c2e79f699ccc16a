/**
 * Resolve a row patch's `$file` and `$template` directives to text (pure: texts are handed in).
 * `$replace` stays, since it needs the agent's current value. Directives are only looked for where
 * validation allows them — a top-level field, or a key of an object field; deeper values, and
 * arrays, are literal data.
 */
import { renderTemplate } from './template.js';
import { isDirective, isPlainObject, type PatchValue, type ResolvedPatch, type ResolvedValue, type RowPatch } from './types.js';
import { setOwn } from './merge.js';

function resolveAt(value: PatchValue, depth: number, vars: Readonly<Record<string, string>>, text: (file: string) => string): ResolvedValue {
  if (isDirective(value)) {
    if ('$file' in value) return text(value.$file);
    if ('$template' in value) return renderTemplate(text(value.$template), vars);
    return value;
  }
  if (depth === 1 && isPlainObject(value)) {
    const out: Record<string, ResolvedValue> = {};
    for (const [key, item] of Object.entries(value)) setOwn(out, key, resolveAt(item as PatchValue, 2, vars, text));
    return out;
  }
  return value as ResolvedValue;
}

export function resolvePatch(patch: RowPatch, vars: Readonly<Record<string, string>>, text: (file: string) => string): ResolvedPatch {
  const out: ResolvedPatch = {};
  for (const [field, value] of Object.entries(patch)) setOwn(out, field, resolveAt(value, 1, vars, text));
  return out;
}

/** Every file the patch reads, found where resolvePatch looks (to load texts before resolving). */
export function fileRefs(patch: RowPatch): string[] {
  const out = new Set<string>();
  const visit = (value: unknown, depth: number) => {
    if (isDirective(value)) {
      if ('$file' in value) out.add(value.$file);
      else if ('$template' in value) out.add(value.$template);
    } else if (depth === 1 && isPlainObject(value)) for (const item of Object.values(value)) visit(item, 2);
  };
  for (const value of Object.values(patch)) visit(value, 1);
  return [...out];
}

/**
 * RFC 7396 JSON Merge Patch, and the composition of two row patches (defaults, then a row over them).
 */
import { isDirective, isPlainObject, type PatchValue } from './types.js';

/**
 * Define an own property. Plain assignment with the key `__proto__` would set the prototype instead;
 * manifests reject that key, but an agent returned by the API is not ours to trust.
 */
export function setOwn<T>(target: Record<string, T>, key: string, value: T): void {
  // defineProperty is slow; only `__proto__` has an assignment that does something other than assign.
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/**
 * Apply a merge patch to a target (RFC 7396 §2): objects merge key by key, `null` deletes a key,
 * anything else replaces. Neither input is modified.
 */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return structuredClone(patch);
  const result: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else setOwn(result, key, mergePatch(Object.hasOwn(result, key) ? result[key] : undefined, value));
  }
  return result;
}

/**
 * A row's patch over the manifest's defaults: objects merge key by key; a directive, an array, a
 * scalar or a null in the row replaces the default's value (null then still means "delete" on the
 * agent, since the composed patch is itself applied as a merge patch).
 */
export function composePatches(base: PatchValue, over: PatchValue): PatchValue {
  if (!isPlainObject(base) || !isPlainObject(over) || isDirective(base) || isDirective(over)) return over;
  const result: Record<string, PatchValue> = { ...(base as Record<string, PatchValue>) };
  for (const [key, value] of Object.entries(over as Record<string, PatchValue>)) {
    setOwn(result, key, Object.hasOwn(result, key) ? composePatches(result[key]!, value) : value);
  }
  return result;
}

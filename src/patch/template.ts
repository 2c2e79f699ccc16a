/** `{{NAME}}` templates: the text of a `$template` file, filled from a row's vars. */

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** Variable names a template uses, in order of first use. */
export function placeholders(text: string): string[] {
  return [...new Set([...text.matchAll(PLACEHOLDER)].map((m) => m[1]!))];
}

/** How often each variable is used, and the bytes all placeholders take in the text (for sizes). */
export function placeholderUse(text: string): { counts: Record<string, number>; bytes: number } {
  const counts: Record<string, number> = Object.create(null) as Record<string, number>;
  let bytes = 0;
  for (const match of text.matchAll(PLACEHOLDER)) {
    counts[match[1]!] = (counts[match[1]!] ?? 0) + 1;
    bytes += Buffer.byteLength(match[0]);
  }
  return { counts, bytes };
}

/** The UTF-8 size of the text filled from `vars`, computed without filling it. */
export function renderedBytes(textBytes: number, use: { counts: Readonly<Record<string, number>>; bytes: number }, vars: Readonly<Record<string, string>>): number {
  let size = textBytes - use.bytes;
  for (const [name, count] of Object.entries(use.counts)) size += count * Buffer.byteLength(vars[name] ?? '');
  return size;
}

/** The largest text a template may render to: the manifest's cell bound (SPEC §3). */
export const MAX_RENDERED_BYTES = 1024 * 1024;

/**
 * Fill every placeholder. A missing variable throws: validation must have caught it first. So does a
 * result over MAX_RENDERED_BYTES, before it is built (a 1 MB variable in a template using it 2,000
 * times would be 2 GB).
 */
export function renderTemplate(text: string, vars: Readonly<Record<string, string>>): string {
  const size = renderedBytes(Buffer.byteLength(text), placeholderUse(text), vars);
  if (size > MAX_RENDERED_BYTES) throw new Error(`the template filled from its vars would be ${size} bytes, over ${MAX_RENDERED_BYTES} (1 MiB)`);
  return text.replace(PLACEHOLDER, (_match, name: string) => {
    if (!Object.hasOwn(vars, name)) throw new Error(`template variable ${name} has no value`);
    return vars[name]!;
  });
}

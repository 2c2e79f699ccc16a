/**
 * Keeping the API key out of everything a server sends back (issue 13). A server may echo the key raw,
 * percent-encoded (a URL in a message), or base64-encoded (a Basic header or a token echoed inside a
 * larger base64 text, at any of three alignments). Every form is replaced with `[redacted]` — before
 * any truncation, so a key at the cut cannot survive in part.
 */

export const REDACTED = '[redacted]';

/** The forms of `secret` worth looking for; each at least 8 characters (shorter would hit by chance). */
export function secretForms(secret: string): string[] {
  const forms = new Set<string>([secret, encodeURIComponent(secret)]);
  const bytes = Buffer.from(secret);
  for (let offset = 0; offset < 3; offset++) {
    // base64 of the secret preceded by `offset` bytes: the characters that depend on the secret alone.
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
    const start = Math.ceil((offset * 4) / 3);
    const end = Math.floor(((offset + bytes.length) * 4) / 3);
    const core = encoded.slice(start, end);
    forms.add(core);
    forms.add(core.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return [...forms].filter((form) => form.length >= Math.min(8, secret.length));
}

/** `text` with every form replaced (percent-encodings matched in either case of their hex digits). */
export function redactText(text: string, forms: readonly string[]): string {
  let out = text;
  for (const form of forms) {
    if (form.includes('%')) out = out.replace(new RegExp(form.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gi'), REDACTED);
    else if (out.includes(form)) out = out.split(form).join(REDACTED);
  }
  return out;
}

/** Whether `text` holds any form (cheap first look at a whole reply before walking it). */
export function holdsSecret(text: string, forms: readonly string[]): boolean {
  // Lower-cased only when a percent-encoded form needs it (a copy of every reply otherwise).
  let lower: string | undefined;
  return forms.some((form) => (form.includes('%') ? (lower ??= text.toLowerCase()).includes(form.toLowerCase()) : text.includes(form)));
}

/**
 * Replaces every form inside the strings (and keys) of a parsed JSON value; returns the top-level keys
 * whose values held one.
 */
export function redactValue(value: Record<string, unknown>, forms: readonly string[]): string[] {
  const touched: string[] = [];
  const walk = (node: unknown): unknown => {
    if (typeof node === 'string') return holdsSecret(node, forms) ? redactText(node, forms) : node;
    if (Array.isArray(node)) return node.map(walk);
    if (node !== null && typeof node === 'object') {
      return Object.fromEntries(Object.entries(node).map(([k, v]) => [holdsSecret(k, forms) ? redactText(k, forms) : k, walk(v)]));
    }
    return node;
  };
  for (const [field, item] of Object.entries(value)) {
    const cleaned = walk(item);
    if (JSON.stringify(cleaned) !== JSON.stringify(item)) {
      value[field] = cleaned;
      touched.push(field);
    }
  }
  return touched;
}

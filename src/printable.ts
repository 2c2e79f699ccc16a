/** Text from outside (a server, a manifest) as it may be shown on a terminal. */

/** Printable: C0/C1 control characters (terminal escapes) shown as `\x1b`, never sent to a terminal. */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * `Retry-After` (RFC 9110 §10.2.3) is either delay-seconds or an HTTP date. Returns milliseconds to
 * wait from `now`, or undefined when the header is absent or unparseable (an unparseable hint must not
 * become a zero wait, which would hammer a server that asked us to back off).
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  // Only accept something that looks like an HTTP date, so "10s" or "-5" are not read by Date.parse.
  if (!/[A-Za-z]{3}/.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

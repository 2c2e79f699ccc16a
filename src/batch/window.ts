/**
 * Maintenance windows (SPEC §9): `"Sat,Sun 02:00-04:00 Europe/Berlin"` — days optional, times in the
 * zone's local time (optionally with seconds), any IANA zone, windows may cross midnight (`22:00-02:00`:
 * the days name the evening the window opens). Pure: "now" is handed in (the Redis server's clock).
 */

export interface WindowSpec {
  /** The text as given, for messages. */
  text: string;
  /** Days the window opens on (0 = Monday … 6 = Sunday); undefined = every day. */
  days: ReadonlySet<number> | undefined;
  /** Seconds after local midnight. */
  start: number;
  end: number;
  zone: string;
}

const DAY_NAMES = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

function dayIndex(name: string): number {
  const index = DAY_NAMES.indexOf(name.trim().toLowerCase().slice(0, 3));
  if (index === -1 || !DAY_NAMES.some((d) => name.trim().toLowerCase().startsWith(d))) throw new RangeError(`--window: "${name}" is not a day (Mon … Sun)`);
  return index;
}

function seconds(time: string): number {
  const match = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(time);
  if (!match || Number(match[1]) > 24 || Number(match[2]) > 59 || Number(match[3] ?? 0) > 59) throw new RangeError(`--window: "${time}" is not a time such as 02:00`);
  const total = Number(match[1]) * 3600 + Number(match[2]) * 60 + Number(match[3] ?? 0);
  if (total > 86_400) throw new RangeError(`--window: "${time}" is past 24:00`);
  return total;
}

export function parseWindow(text: string): WindowSpec {
  const parts = text.trim().split(/\s+/);
  const match = parts.length === 3 || parts.length === 2 ? parts : undefined;
  if (!match) throw new RangeError(`--window: "${text}" is not of the form "[DAYS] HH:MM-HH:MM ZONE", e.g. "Sat,Sun 02:00-04:00 Europe/Berlin"`);
  const [daysText, range, zone] = parts.length === 3 ? parts : [undefined, parts[0]!, parts[1]!];
  const [from, to, extra] = range!.split('-');
  if (!from || !to || extra !== undefined) throw new RangeError(`--window: "${range}" is not a range such as 02:00-04:00`);
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    throw new RangeError(`--window: "${zone}" is not an IANA time zone (e.g. Europe/Berlin, UTC)`);
  }
  const start = seconds(from);
  const end = seconds(to);
  if (start === end) throw new RangeError('--window: the window opens and closes at the same time');
  return { text, days: daysText ? new Set(daysText.split(',').map(dayIndex)) : undefined, start, end, zone: zone! };
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Local weekday (0 = Monday) and seconds after local midnight in `zone`. */
export function localTime(now: number, zone: string): { weekday: number; seconds: number } {
  let format = formatters.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone: zone, weekday: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
    formatters.set(zone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(new Date(now)).map((p) => [p.type, p.value]));
  return { weekday: dayIndex(parts.weekday!), seconds: Number(parts.hour) * 3600 + Number(parts.minute) * 60 + Number(parts.second) };
}

export function isOpen(spec: WindowSpec, now: number): boolean {
  const { weekday, seconds: t } = localTime(now, spec.zone);
  const dayOk = (day: number) => spec.days === undefined || spec.days.has(day);
  if (spec.start < spec.end) return t >= spec.start && t < spec.end && dayOk(weekday);
  // Crossing midnight: the evening part belongs to today, the morning part to yesterday's window.
  if (t >= spec.start) return dayOk(weekday);
  return t < spec.end && dayOk((weekday + 6) % 7);
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** When the window next opens or closes after `now` (within 8 days), or undefined if never. */
export function nextChange(spec: WindowSpec, now: number): number | undefined {
  const open = isOpen(spec, now);
  // Every boundary lies on a grid of gcd(start, end, 60) seconds (zone offsets are whole minutes), so
  // stepping on that grid finds the exact moment, however short the window.
  const step = gcd(gcd(spec.start, spec.end), 60) * 1000;
  for (let t = Math.floor(now / step) * step + step; t <= now + 8 * 86_400_000; t += step) {
    if (isOpen(spec, t) !== open) return t;
  }
  return undefined;
}

const parsed = new Map<string, WindowSpec>();

/**
 * Whether a batch may make a request at `now`: not before its start, inside its window, not past its
 * deadline. (Window texts were validated at submit; they are parsed once per process.)
 */
export type ScheduleState = 'open' | 'not_yet' | 'closed' | 'past_deadline';

export function scheduleState(meta: { startAt?: number; window?: string; deadline?: number }, now: number): ScheduleState {
  if (meta.deadline !== undefined && now >= meta.deadline) return 'past_deadline';
  if (meta.startAt !== undefined && now < meta.startAt) return 'not_yet';
  if (meta.window && !isOpen(windowSpec(meta.window), now)) return 'closed';
  return 'open';
}

export function windowSpec(text: string): WindowSpec {
  let spec = parsed.get(text);
  if (!spec) {
    spec = parseWindow(text);
    parsed.set(text, spec);
  }
  return spec;
}

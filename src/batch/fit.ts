/**
 * Whether a batch can finish before its deadline (SPEC §15), pure: the time it needs — its requests at
 * the rate that limits it, plus the bakes between its waves — against the time its schedule leaves open
 * before the deadline (from its start, inside its window). A batch that cannot fit is said at submit,
 * with both figures, rather than found out when the deadline skips what is left.
 */
import { isOpen, nextChange, type WindowSpec } from './window.js';

/** Past this far ahead the open time is not walked: a batch needing weeks is not what the check is for. */
const HORIZON_MS = 31 * 86_400_000;

/** Milliseconds in [from, to) at which `window` is open (all of it without a window). */
export function openTime(window: WindowSpec | undefined, from: number, to: number): number {
  if (to <= from) return 0;
  if (!window) return to - from;
  const end = Math.min(to, from + HORIZON_MS);
  let open = 0;
  for (let t = from; t < end; ) {
    const change = nextChange(window, t) ?? end;
    const next = Math.min(change, end);
    if (isOpen(window, t)) open += next - t;
    t = next;
  }
  return to > end ? open + (to - end) : open;
}

export interface FitInput {
  agents: number;
  /** Requests each agent costs (2: a GET and a PATCH). */
  requestsPerAgent: number;
  /** Requests per second the batch gets: the lower of its --rate and its key's. */
  rate: number;
  waves?: number[] | undefined;
  bakeMs?: number | undefined;
}

export interface Fit {
  requests: number;
  /** The time the batch needs (ms). */
  needMs: number;
  /** The time its schedule leaves open before the deadline (ms). */
  openMs: number;
  fits: boolean;
}

export function fitBeforeDeadline(input: FitInput, schedule: { startAt?: number | undefined; window?: WindowSpec | undefined; deadline: number }, now: number): Fit {
  const requests = Math.ceil(input.agents * input.requestsPerAgent);
  const bakes = input.waves && input.bakeMs ? (input.waves.length - 1) * input.bakeMs : 0;
  const needMs = Math.ceil((requests / input.rate) * 1000) + bakes;
  const openMs = openTime(schedule.window, Math.max(now, schedule.startAt ?? now), schedule.deadline);
  return { requests, needMs, openMs, fits: needMs <= openMs };
}

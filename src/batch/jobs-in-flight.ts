/** The worker pool's one policy number: how many of a batch's BullMQ jobs run at once (pure). */

/**
 * How many of a batch's jobs a worker runs at once, for `concurrency` in-flight requests. A job spends
 * part of its time on Redis steps (a few ms) and holds a request place only while a request is out.
 * Those steps weigh only where requests are quick and each place may turn over more than FAST_PLACE
 * times a second (a 20 ms API, at full speed): there twice as many jobs keep every place busy (a cold
 * run of 1,500 agents at concurrency 16: 6.2 s with one job per place, 4.3 s with 32). Elsewhere a
 * quarter more than the places has the next job ready, and more would only reserve rate slots further
 * ahead and bunch requests up against an API's own limit (the 429 test, on a loaded machine: 53% 429s
 * with twice the jobs at --rate 50 and 4 places).
 */
export function jobsInFlight(concurrency: number, rate: number): number {
  return rate > FAST_PLACE * concurrency ? 2 * concurrency : concurrency + Math.ceil(concurrency / 4);
}

/** Requests per second per place above which a batch's jobs are doubled (see jobsInFlight). */
export const FAST_PLACE = 20;

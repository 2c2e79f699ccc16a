/**
 * Waiting for something that may never come, bounded: a close with Redis gone, notifications to a
 * silent endpoint, a worker that cannot start. The timer is cleared either way (a pending one would
 * keep the process alive for its length).
 */
export async function atMost(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

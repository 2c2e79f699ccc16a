/**
 * Holding a mock request until the test has made something happen: the way to force one interleaving of
 * two correct steps (SPEC §13's races) instead of hoping a loaded machine finds it.
 */
export interface Gate {
  /** Resolves when `open` is called. */
  readonly passed: Promise<void>;
  open(): void;
  /** True once something waits at the gate. */
  readonly reached: boolean;
  /** Resolves when something first waits at the gate. */
  readonly arrival: Promise<void>;
  /** Called by what waits: marks the gate reached and waits for `open`. */
  wait(): Promise<void>;
}

export function gate(): Gate {
  let open!: () => void;
  let arrive!: () => void;
  const passed = new Promise<void>((resolve) => (open = resolve));
  const arrival = new Promise<void>((resolve) => (arrive = resolve));
  let reached = false;
  return {
    passed,
    open,
    arrival,
    get reached() {
      return reached;
    },
    wait() {
      reached = true;
      arrive();
      return passed;
    },
  };
}

/** Polls `check` every 20 ms until it returns something truthy, or fails after `timeoutMs`. */
export async function until<T>(check: () => Promise<T> | T, what: string, timeoutMs = 20_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

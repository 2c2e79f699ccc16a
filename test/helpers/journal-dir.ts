/**
 * Setup file (vitest.config.ts): each test file's journals of originals (run's .nova-fleet/, in process
 * and in the CLI children, which inherit the environment) in a folder of its own, removed afterwards —
 * never in the checkout, never read by another file's re-run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';

const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-journals-'));
process.env.NOVA_FLEET_JOURNAL_DIR = dir;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

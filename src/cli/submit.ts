/**
 * `nova-fleet submit MANIFEST [--batch ID] [--rate N] [--concurrency N] [--attempts N]`: validate,
 * create the batch, enqueue its jobs, print its id (ops/submit.ts does the work).
 */
import { submitManifest, type SubmitFlags } from '../ops/submit.js';
import type { Output } from './output.js';

export async function submitCommand(file: string, flags: SubmitFlags, out: Output): Promise<void> {
  const summary = await submitManifest(file, flags, out);
  out.result(summary.batchId, summary);
}

/** `nova-fleet validate MANIFEST`: parse and validate only — no Redis, no network. Exit 0 or 2. */
import { describeSummary, requireValidManifest, type ManifestFlags } from './manifest-gate.js';
import type { Output } from './output.js';

export async function validateCommand(file: string, flags: ManifestFlags, out: Output): Promise<void> {
  const report = await requireValidManifest(file, flags, out);
  out.result(describeSummary(report), { ok: true, summary: report.summary });
}

/** Readable batch ids: `2026-11-29-prompt-rollout-7k2f` (date, manifest name, 4 random characters). */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { BATCH_ID } from '../store/keys.js';

export function generateBatchId(manifest: string, now: Date = new Date()): string {
  const slug = path
    .basename(manifest, path.extname(manifest))
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40) || 'batch';
  const random = [...randomBytes(4)].map((b) => '0123456789abcdefghijklmnopqrstuvwxyz'[b % 36]).join('');
  return `${now.toISOString().slice(0, 10)}-${slug}-${random}`;
}

export function checkBatchId(id: string): string {
  if (!BATCH_ID.test(id)) throw new UsageError(`invalid batch id "${id}"`, 'use up to 80 letters, digits, ".", "_" or "-"');
  return id;
}

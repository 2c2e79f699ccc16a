/**
 * The journal's writer (issue 30): one open file and one writer — concurrent events land as whole lines,
 * each resolved once written; a failure rejects the events it carried, named, and the next event opens
 * the file again; the file is created 0600.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal } from '../src/journal/journal.js';
import { packAsync, unpack } from '../src/store/snapshot-codec.js';
import type { BatchMeta } from '../src/batch/records.js';

const meta = { id: 'b1', kind: 'rollout', manifest: 'm.ndjson', digest: 'd', createdAt: 1, options: { rate: 10 } } as unknown as BatchMeta;
const agent = (i: number) => ({ id: `a${i}`, name: `Agent ${i}`, prompt_template: 'x'.repeat((i * 997) % 70_000) }) as never;

describe('journal writer', () => {
  it('400 concurrent events: every one a whole line, in a file of mode 0600', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'nf-journal-'));
    const journal = new Journal(path.join(dir, 'j.ndjson'), 'p');
    await Promise.all(Array.from({ length: 400 }, (_, i) => (i % 2 ? journal.changed(meta, `o/a${i}`, 'applied', ['name'], agent(i)) : journal.before(meta, `o/a${i}`, agent(i)))));
    await journal.close();
    const lines = readFileSync(path.join(dir, 'j.ndjson'), 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(401);
    const parsed = lines.map((l) => JSON.parse(l) as { t: string; k?: string; before?: { prompt_template: string }; after?: { prompt_template: string } });
    expect(parsed[0]!.t).toBe('batch');
    expect(new Set(parsed.slice(1).map((l) => l.k)).size).toBe(400);
    for (const line of parsed.slice(1)) expect((line.before ?? line.after)!.prompt_template.length).toBe((Number(line.k!.slice(3)) * 997) % 70_000);
    expect(statSync(path.join(dir, 'j.ndjson')).mode & 0o777).toBe(0o600);
    // Closed, it opens again for the next event.
    await journal.before(meta, 'o/late', agent(1));
    await journal.close();
    expect(readFileSync(path.join(dir, 'j.ndjson'), 'utf8').trimEnd().split('\n')).toHaveLength(402);
  });

  it('a write that fails rejects its events, naming the journal; the next event opens the file again', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'nf-journal-'));
    const file = path.join(dir, 'sub', 'j.ndjson');
    const journal = new Journal(file, 'p');
    // The journal's place is taken by a directory: nothing can be appended there.
    mkdirSync(file);
    const failed = await Promise.allSettled([journal.before(meta, 'o/a1', agent(1)), journal.before(meta, 'o/a2', agent(2))]);
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(String((failed[0] as PromiseRejectedResult).reason)).toContain(`journal ${file}: `);
    // The place cleared: the same journal's next event is written.
    rmdirSync(file);
    await journal.before(meta, 'o/a3', agent(3));
    await journal.close();
    expect(readFileSync(file, 'utf8')).toContain('"k":"o/a3"');
  });

  it('a before line carries exactly the text its snapshot was packed from, not a second serialisation', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'nf-journal-'));
    const journal = new Journal(path.join(dir, 'j.ndjson'), 'p');
    const original = { id: 'a1', name: 'Zoë — 東京', prompt_template: 'Role: help' };
    const packed = await packAsync(original);
    // Changed after packing (nothing in the engine does; the journal must still match the snapshot).
    original.name = 'changed since';
    await journal.before(meta, 'o/a1', original as never);
    await journal.close();
    const line = JSON.parse(readFileSync(path.join(dir, 'j.ndjson'), 'utf8').trimEnd().split('\n')[1]!) as { before: unknown };
    expect(line.before).toEqual(unpack(packed));
    expect(line.before).toMatchObject({ name: 'Zoë — 東京' });
  });
});

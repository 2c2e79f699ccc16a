/**
 * The journal of originals read as untrusted input (issue 25): a broken line in the middle is refused,
 * naming the file and line; a torn last line (a crash mid-write) is skipped; a line past the bound is
 * refused without reading it whole; agents without their batch's header are refused. And a journal
 * named by `--journal` is read whole: a worker's holds many batches, a header anywhere in it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { recoverForRollback, recoverLostBatch } from '../src/ops/journal-recovery.js';
import { createOutput } from '../src/cli/output.js';
import { MAX_LINE_BYTES } from '../src/ops/archive.js';
import { readJournal } from '../src/journal/rebuild.js';
import { journalDir } from '../src/journal/journal.js';
import { pruneBatches } from '../src/ops/retention.js';
import { BatchStore } from '../src/store/batch-store.js';
import { capture } from './helpers/capture.js';
import { engineFixtures } from './helpers/engine.js';
import { testPrefix } from './helpers/redis.js';
import { rejection } from './helpers/mock.js';

const { redis } = engineFixtures('journal');
const dir = mkdtempSync(path.join(os.tmpdir(), 'nova-fleet-journal-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const options = { rate: 10, attempts: 6, backoffMs: 1000, backoffCapMs: 60_000 };
const header = (id: string, digest: string, prefix: string) => JSON.stringify({ t: 'batch', v: 1, prefix, meta: { id, kind: 'rollout', manifest: 'm.ndjson', digest, createdAt: Date.now(), options } });
const before = (id: string, n: number, extra = '') => JSON.stringify({ t: 'before', v: 1, batch: id, k: `org-1/agent-${n}`, before: { name: `Agent ${n}${extra}` } });
const journal = (name: string, lines: string[]) => {
  const file = path.join(dir, name);
  writeFileSync(file, lines.join('\n'));
  return file;
};

describe('a journal read back', () => {
  it('a torn last line is skipped; a broken line before it is refused, naming the file and line', async () => {
    const torn = journal('torn.ndjson', [header('j-1', 'd1', 'p'), before('j-1', 1), '{"t":"before","v":1,"batch":"j-1","k":"org-1/ag']);
    expect([...(await readJournal(torn)).get('j-1')!.originals.keys()]).toEqual(['org-1/agent-1']);
    const broken = journal('broken.ndjson', [header('j-1', 'd1', 'p'), '{"t":"before","v":1,"batch":"j-1","k":"not a key","before":{}}', before('j-1', 2)]);
    expect((await rejection(readJournal(broken))).message).toBe(`${broken}:2: not a nova-fleet journal line (k: not an agent key org_id/agent_id)`);
    const headless = journal('headless.ndjson', [before('j-2', 1)]);
    expect((await rejection(readJournal(headless))).message).toContain("agents of batch j-2 without that batch's header line");
  });

  it('a line past the bound is refused without being read whole', async () => {
    const long = journal('long.ndjson', [header('j-3', 'd3', 'p'), before('j-3', 1, 'x'.repeat(MAX_LINE_BYTES + 10)), before('j-3', 2)]);
    expect((await rejection(readJournal(long))).message).toBe(`${long}:2: a line longer than ${MAX_LINE_BYTES} bytes: not a nova-fleet journal line`);
  }, 30_000);

  it('named by --journal, a journal is read whole: a batch whose header comes after 64 KiB of others is found and rebuilt', async () => {
    const prefix = testPrefix('journal-whole');
    const store = new BatchStore(redis, prefix);
    const others = Array.from({ length: 400 }, (_, n) => before('other', n, 'y'.repeat(200)));
    const file = journal('worker.ndjson', [header('other', 'd-other', prefix), ...others, header('late-1', 'd-late', prefix), before('late-1', 1)]);
    const err = capture();
    await recoverLostBatch(store, 'd-late', file, createOutput(false, process.stdout, err.stream));
    expect((await store.getBatch('late-1'))?.status).toBe('running');
    expect(err.text()).toContain(`journal: batch late-1 was gone from Redis — rebuilt from ${file}: 1 original, 0 agents already changed`);
    expect(await store.getBatch('other')).toBeUndefined(); // another manifest's batch: left alone
  });

  it('a --journal file that does not exist yet holds nothing for a run (it is the file to write); rollback says it holds no such batch', async () => {
    const store = new BatchStore(redis, testPrefix('journal-missing'));
    const missing = path.join(dir, 'not-yet.ndjson');
    const err = capture();
    await recoverLostBatch(store, 'd-any', missing, createOutput(false, process.stdout, err.stream));
    expect(err.text()).toBe('');
    expect((await rejection(recoverForRollback(store, 'gone-1', missing, createOutput(false, process.stdout, err.stream)))).message).toBe(`${missing} holds no batch gone-1`);
  });

  it('in the journal folder, a journal whose batch Redis still has is not read whole: its broken line is never reached', async () => {
    const prefix = testPrefix('journal-kept');
    const store = new BatchStore(redis, prefix);
    const err = capture();
    const notes = createOutput(false, process.stdout, err.stream);
    await recoverLostBatch(store, 'd-here', journal('here.ndjson', [header('here-1', 'd-here', prefix), before('here-1', 1)]), notes);
    expect(await store.getBatch('here-1')).toBeDefined();
    // The same batch's journal in the folder, broken after its head: read whole, it would be refused.
    writeFileSync(path.join(journalDir(), 'here-1.journal.ndjson'), [header('here-1', 'd-here', prefix), '{"t":"before","broken'].join('\n') + '\n' + before('here-1', 2));
    await expect(recoverLostBatch(store, 'd-here', undefined, notes)).resolves.toBeUndefined();
    // A batch of that manifest Redis did lose is still found there (and then read whole).
    writeFileSync(path.join(journalDir(), 'lost-1.journal.ndjson'), [header('lost-1', 'd-here', prefix), before('lost-1', 3)].join('\n'));
    await recoverLostBatch(store, 'd-here', undefined, notes);
    expect((await store.getBatch('lost-1'))?.status).toBe('running');
  });

  it('a batch deleted by prune is not rebuilt from its journal by a re-run; rollback --journal still brings it back', async () => {
    const prefix = testPrefix('journal-pruned');
    const store = new BatchStore(redis, prefix);
    const err = capture();
    const notes = createOutput(false, process.stdout, err.stream);
    const file = path.join(journalDir(), 'pruned-1.journal.ndjson');
    writeFileSync(file, [header('pruned-1', 'd-pruned', prefix), before('pruned-1', 1)].join('\n'));
    await recoverLostBatch(store, 'd-pruned', undefined, notes); // as if Redis had lost it: rebuilt
    expect(await store.transition('pruned-1', 'completed', ['running'])).toBe('running');
    expect((await pruneBatches(store, 0, Date.now() + 1000)).pruned).toEqual(['pruned-1']);
    expect(await store.pruned.has('pruned-1')).toBe(true);
    await recoverLostBatch(store, 'd-pruned', undefined, notes);
    await recoverLostBatch(store, 'd-pruned', file, notes); // named by --journal: the same
    expect(await store.getBatch('pruned-1')).toBeUndefined();
    expect(err.text().match(/rebuilt from/g)).toHaveLength(1);
    await recoverForRollback(store, 'pruned-1', file, notes);
    expect((await store.getBatch('pruned-1'))?.status).toBe('running');
    expect(await store.pruned.has('pruned-1')).toBe(false);
  });
});

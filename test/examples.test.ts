/** The jobs/ examples validate, and plan cleanly against the mock's default fleet they were made from. */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManifestFiles } from '../src/manifest/files.js';
import { scanManifest, validateManifest } from '../src/manifest/validate.js';
import { planManifest } from '../src/plan/plan.js';
import { runCli, ROOT } from './helpers/cli.js';
import { clientFor, startMock } from './helpers/mock.js';

const jobs = readdirSync(path.join(ROOT, 'jobs'))
  .filter((f) => /\.(csv|json|ndjson|jsonl)$/.test(f))
  .map((f) => path.join(ROOT, 'jobs', f));

describe('jobs/ examples', () => {
  it('has the three uses: a prompt rollout, a config migration and a maintenance-window change; a selector; a migration module', () => {
    expect(jobs.map((f) => path.basename(f)).sort()).toEqual(['maintenance-window.ndjson', 'prompt-rollout.json', 'vad-migration.csv', 'voice-goodbye.select.json']);
    expect(readdirSync(path.join(ROOT, 'jobs')).filter((f) => f.endsWith('.mjs'))).toEqual(['cap-temperature.migration.mjs']);
  });

  it('voice-goodbye.select.json selects agents of the default mock fleet, and every one would change', async () => {
    const api = await startMock({ agents: 100, orgs: 3, seed: 1, promptBytes: 3000 });
    const result = await runCli(['plan', path.join(ROOT, 'jobs/voice-goodbye.select.json'), '--rate', '1000'], { NOVA_API_URL: api.url, NOVA_API_KEY: api.apiKey });
    expect(result.code, result.stderr).toBe(0);
    const [, n, changing] = /plan: (\d+) agents — (\d+) would change, 0 unchanged, 0 missing/.exec(result.stdout) ?? [];
    expect(Number(n)).toBeGreaterThan(3);
    expect(changing).toBe(n);
  });

  for (const file of jobs) {
    const selector = file.endsWith('.select.json');
    it(`validate accepts ${path.basename(file)} (exit 0)`, async () => {
      const result = await runCli(['validate', file]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
    });

    // A selector names no agents: planned through the API above.
    if (!selector) it(`${path.basename(file)} names only agents of the default mock fleet, and every one would change`, async () => {
      const api = await startMock({ agents: 100, orgs: 3, seed: 1, promptBytes: 3000 });
      const report = await validateManifest(file);
      const summary = await planManifest({ rows: scanManifest(file), client: clientFor(api), files: new ManifestFiles(file), pace: 1000, concurrency: 8 });
      expect(summary.counts).toEqual({ change: report.summary.agents, unchanged: 0, missing: 0, invalid: 0, skipped: 0, error: 0 });
      expect(api.stats().byMethod.PATCH).toBeUndefined();
    });
  }
});

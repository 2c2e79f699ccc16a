/**
 * The peer of the cold-run benchmark: the script an operator writes today, run as a process of its own.
 * Reads the manifest's ids and, with a pool of CONCURRENCY, GETs each agent and PATCHes the same change
 * `nova-fleet run` makes — no validation, no durability, no rate limit, no retries.
 * Usage: node naive-script.js MANIFEST.ndjson API_URL API_KEY CONCURRENCY
 */
import { readFileSync } from 'node:fs';
import pLimit from 'p-limit';

const [file, url, key, concurrency] = process.argv.slice(2) as [string, string, string, string];
const rows = readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { org_id: string; agent_id: string });
const limit = pLimit(Number(concurrency));
const headers = { 'x-api-key': key, 'content-type': 'application/json' };
await Promise.all(
  rows.map((row) =>
    limit(async () => {
      const at = `${url}/org/${row.org_id}/agents/${row.agent_id}`;
      const agent = (await (await fetch(at, { headers })).json()) as { prompt_template: string; extra_config: object };
      const response = await fetch(at, {
        method: 'PATCH',
        headers,
        body: JSON.stringify({ prompt_template: agent.prompt_template.split('Role').join('Your role'), extra_config: { ...agent.extra_config, min_words: 5 } }),
      });
      if (!response.ok) throw new Error(`PATCH ${row.agent_id}: ${response.status}`);
      await response.arrayBuffer();
    }),
  ),
);

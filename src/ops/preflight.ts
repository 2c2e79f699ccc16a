/**
 * Preflight (SPEC §10): before a batch is created, every org of the manifest must have a key (else
 * exit 2, naming the org) and that key must be accepted — one GET per org, of an agent the manifest
 * lists there (else exit 3, naming the org and the schemes tried; nothing is created).
 * `--no-preflight` skips the reads (the keys are still required).
 */
import type { NovaClient } from '../api/client.js';
import { NovaApiError } from '../api/errors.js';
import type { Config } from '../config.js';
import { InfraError } from '../errors.js';
import pLimit from 'p-limit';
import { Pacer } from '../plan/pacer.js';
import { readAgent } from '../plan/read-agent.js';
import { apiClient, requireKeysFor } from './api-context.js';
import type { Notes } from './notes.js';

/** Tries of one preflight read: a transient failure (a dropped connection, a 503) is asked again. */
export const PREFLIGHT_TRIES = 4;

export async function preflight(config: Config, samples: ReadonlyArray<{ org_id: string; agent_id: string }>, notes: Notes, options: { read?: boolean; client?: NovaClient } = {}): Promise<void> {
  requireKeysFor(config, samples.map((s) => s.org_id));
  if (options.read === false || samples.length === 0) return;
  const client = options.client ?? apiClient(config, undefined, (line) => notes.note(line));
  const pacer = new Pacer(config.rate);
  const refused: string[] = [];
  // The orgs are read side by side (within --rate and --concurrency): a fleet of many orgs waits little.
  const limit = pLimit(config.concurrency);
  try {
    await Promise.all(
      samples.map(({ org_id: org, agent_id: agent }) =>
        limit(async () => {
          try {
            // Asked again after a transient failure, as plan's reads are: one 503 gave up the whole
            // submit with exit 3 (issue 25: 8 of 30 against a faulty API).
            await readAgent(client, org, agent, pacer, PREFLIGHT_TRIES);
          } catch (error) {
            if (!(error instanceof NovaApiError)) throw error;
            // A missing agent still shows the key was taken; a refusal is what preflight is for.
            if (error.kind === 'auth') refused.push(`${org} (${error.status ?? 'no key'}${config.auth === 'auto' ? ' with X-API-Key and with Bearer' : ` with ${config.auth}`}: ${error.serverMessage ?? error.message})`);
            else if (error.kind !== 'not_found' && error.kind !== 'client') throw new InfraError(`preflight: the Nova API could not be read for org ${org}: ${error.message}`, 'check NOVA_API_URL and the network (--no-preflight skips this check)');
          }
        }),
      ),
    );
  } finally {
    if (!options.client) client.close();
  }
  if (refused.length > 0) {
    throw new InfraError(`preflight: the API refused the key of ${refused.length === 1 ? 'org' : 'orgs'} ${refused.slice(0, 5).join('; ')}${refused.length > 5 ? ` and ${refused.length - 5} more` : ''}; no batch was created`, 'fix the key (the keys file or NOVA_API_KEY) — a key reads and writes one org only');
  }
  const schemes = Object.entries(client.knownSchemes());
  if (schemes.some(([, scheme]) => scheme === 'bearer')) notes.note(`preflight: ${schemes.map(([org, scheme]) => `${org} ${scheme === 'bearer' ? 'Bearer' : 'X-API-Key'}`).join(', ')}`);
}

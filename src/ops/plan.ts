/**
 * The dry run (`plan`): validates, GETs every listed agent within the rate budget, summarises per field
 * with sample diffs, and writes the plan — every agent's full diff, sealed with its digest — to --out
 * for `apply` (SPEC §12). Never a PATCH; nothing written to Redis. Exit 1 if any agent is missing.
 */
import { maskUrlPassword } from '../config.js';
import { printable } from '../printable.js';
import { fileDigest, requireWritableTarget } from '../user-files.js';
import { PlanFileWriter, type PlanHeader } from '../plan/plan-file.js';
import { apiClient, refusedKey, requireKeysFor } from './api-context.js';
import { configFrom, type ApiFlags, type RedisFlags } from './context.js';
import { EXIT_CODES, UsageError, type ExitCode } from '../errors.js';
import { manifestFiles, scanManifest } from '../manifest/validate.js';
import { manifestSource } from './manifest-source.js';
import { planManifest, type AgentPlan, type PlanOptions, type PlanSummary } from '../plan/plan.js';
import { Pacer } from '../plan/pacer.js';
import { ManifestFiles } from '../manifest/files.js';
import type { ManifestRow } from '../manifest/types.js';
import type { ValidationReport } from '../manifest/validate.js';
import type { Config } from '../config.js';
import type { NovaClient } from '../api/client.js';
import type { RowPatch } from '../patch/types.js';
import { isMigrationFile, loadMigration } from '../migrate/load.js';
import type { Migration } from '../migrate/define.js';
import { matches, selectAgents } from '../select/select.js';
import { whereList } from '../select/selector.js';
import { requireValidManifest, type ManifestFlags } from './manifest-gate.js';
import type { Notes } from './notes.js';

export interface PlanFlags extends ManifestFlags, RedisFlags, ApiFlags {
  out?: string;
}

/** What `plan` reports: the summary, where the plan was written, and the exit code (1: an agent missing or unreadable). */
export type PlanOutcome = PlanSummary & { out: string | null; exitCode: ExitCode };

export async function planChanges(file: string, flags: PlanFlags, notes: Notes): Promise<PlanOutcome> {
  if (flags.out) await requireWritableTarget(flags.out, 'plan output');
  const migration = isMigrationFile(file) ? await loadMigration(file) : undefined;
  const checked = migration ? undefined : await requireValidManifest(file, flags, notes);
  const config = configFrom(flags);
  if (!config.apiKey && !config.keysFile) throw new UsageError('NOVA_API_KEY is not set: plan reads every agent from the API', 'export NOVA_API_KEY=… (and NOVA_API_URL for another API), or give --keys FILE');
  requireKeysFor(config, migration ? migration.select.orgs : checked!.summary.orgSamples.map((s) => s.org_id));
  const client = apiClient(config, undefined, (line) => notes.note(line));
  const pacer = new Pacer(config.rate);
  let input: PlanInput | undefined;
  let sink: PlanFileWriter | undefined;
  let sealed = false;
  let summary: PlanSummary;
  try {
    input = migration ? migrationInput(file, migration, client, pacer, config.concurrency, notes) : await manifestInput(file, checked!, flags, config, notes);
    const header: PlanHeader = { manifest: file, manifest_digest: await fileDigest(file), created_at: new Date().toISOString(), options: flags.rate !== undefined ? { rate: flags.rate } : {} };
    sink = flags.out ? await PlanFileWriter.open(flags.out, header) : undefined;
    notes.note(`plan: reading ${input.agents ?? 'the selected'} agents from ${maskUrlPassword(config.apiUrl)} at up to ${config.rate} requests/s (GET only)…`);
    const writer = sink;
    summary = await planManifest({
      ...input,
      client,
      pace: pacer,
      concurrency: config.concurrency,
      refusedKey: (error) => refusedKey(config, error),
      ...(writer ? { onAgent: (plan: AgentPlan) => writer.add(plan) } : {}),
    });
    // Sealed only when every agent was planned: a plan stopped half-way cannot be applied.
    await sink?.close();
    sealed = true;
  } finally {
    client.close();
    await input?.dispose();
    if (sink && !sealed) await sink.abandon();
  }
  const schemes = Object.entries(client.knownSchemes());
  if (schemes.length > 0) notes.note(`plan: keys taken with ${schemes.map(([org, scheme]) => `${org} ${scheme === 'bearer' ? 'Authorization: Bearer' : 'X-API-Key'}`).slice(0, 20).join(', ')}`);
  return { ...summary, out: flags.out ?? null, exitCode: summary.counts.missing + summary.counts.error + summary.counts.invalid > 0 ? EXIT_CODES.failed : EXIT_CODES.ok };
}

/** Where a plan's rows come from, and how each agent's patch is found. */
type PlanInput = Pick<PlanOptions, 'rows' | 'files' | 'selects' | 'derive'> & { agents?: number; dispose(): Promise<void> };

async function manifestInput(file: string, checked: ValidationReport, flags: PlanFlags, config: Config, notes: Notes): Promise<PlanInput> {
  const source = await manifestSource(file, checked, flags, config, notes);
  return { rows: scanManifest(source.rows, source.options), files: manifestFiles(source.rows, source.options), agents: source.report.summary.agents, dispose: source.dispose };
}

/**
 * A migration (SPEC §12): its orgs listed (type and search filter there), each agent read once, its
 * `where` checked on that read, and its transform asked for the patch — here, at plan time only.
 */
function migrationInput(file: string, migration: Migration, client: NovaClient, pacer: Pacer, concurrency: number, notes: Notes): PlanInput {
  const { select } = migration;
  const where = whereList(select);
  async function* rows(): AsyncGenerator<ManifestRow> {
    let line = 0;
    const onBadId = (org: string, id: string, problem: string) => notes.note(`plan: ${org}: the API listed an agent whose id ${JSON.stringify(printable(id).slice(0, 80))} ${problem}: left notes`);
    for await (const agent of selectAgents({ client, orgs: select.orgs, type: select.type, search: select.search, pace: pacer, concurrency, onBadId })) {
      yield { line: ++line, orgId: agent.org_id, agentId: agent.agent_id, patch: {}, vars: {}, ...(migration.expect ? { expect: migration.expect } : {}) };
    }
    notes.note(`plan: ${line} agent${line === 1 ? '' : 's'} listed in ${select.orgs.length} org${select.orgs.length === 1 ? '' : 's'}`);
  }
  return {
    rows: rows(),
    files: new ManifestFiles(file),
    selects: (agent) => matches(agent, where),
    // The transform gets its own copy: what it does to the object cannot change the plan's "before".
    derive: async (agent) => ((await migration.transform(structuredClone(agent))) ?? 'unchanged') as RowPatch | 'unchanged',
    dispose: async () => {},
  };
}

/**
 * What plan, submit and run read rows from. A listing manifest is its own source. A selector manifest
 * (SPEC §11) is expanded once through the API into a temporary JSON manifest — its defaults, and one
 * row per agent found carrying the selector's `where` as its precondition — which is then validated and
 * read like any other (`$file`s stay relative to the original's folder). The batch is made from that
 * expansion, so it holds exactly the agents found: a retry or a rollback never selects again.
 */
import { printable } from '../printable.js';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../config.js';
import { UsageError } from '../errors.js';
import type { ManifestOptions, ValidationReport } from '../manifest/validate.js';
import { JsonManifestWriter } from '../manifest/json-writer.js';
import { selectAgents } from '../select/select.js';
import { whereList } from '../select/selector.js';
import { apiClient, requireKeysFor, selectFailure } from './api-context.js';
import { manifestOptions, requireValidManifest, type ManifestFlags } from './manifest-gate.js';
import type { Notes } from './notes.js';

export interface ManifestSource {
  /** The file rows are read from: the manifest itself, or its expansion. */
  rows: string;
  options: ManifestOptions;
  report: ValidationReport;
  /** Removes the expansion (nothing for a listing manifest). */
  dispose(): Promise<void>;
  /** Agent keys to record `unchanged` without a request: an applied plan's agents it found unchanged (SPEC §15). */
  settled?: readonly string[];
}

/** A validated manifest as rows: a selector is expanded through the API first. */
export async function manifestSource(file: string, report: ValidationReport, flags: ManifestFlags, config: Config, notes: Notes): Promise<ManifestSource> {
  const selector = report.summary.selector;
  const options = manifestOptions(flags);
  if (!selector) return { rows: file, options, report, dispose: async () => {} };
  const { select } = selector;
  requireKeysFor(config, select.orgs);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'nova-fleet-select-'));
  const dispose = () => rm(dir, { recursive: true, force: true });
  try {
    const rows = path.join(dir, `${path.basename(file, path.extname(file))}.selected.json`);
    const found = await writeExpansion(rows, selector, config, notes);
    const total = [...found.values()].reduce((sum, n) => sum + n.matched, 0);
    for (const [org, n] of found) notes.note(`select: ${org}: ${n.matched} of ${n.listed} listed agent${n.listed === 1 ? '' : 's'} match`);
    if (total === 0) throw new UsageError(`the selector of ${file} matched no agent`, 'check its orgs, type, search and where with `nova-fleet select --org …`');
    const expandedOptions: ManifestOptions = { ...options, format: 'json', baseDir: path.dirname(path.resolve(file)) };
    const expanded = await requireValidManifest(rows, flags, notes, expandedOptions);
    return { rows, options: expandedOptions, report: expanded, dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/** Streams the selection into `{"defaults": …, "agents": [rows]}`, one row per line. */
async function writeExpansion(file: string, selector: NonNullable<ValidationReport['summary']['selector']>, config: Config, notes: Notes): Promise<Map<string, { listed: number; matched: number }>> {
  const { select } = selector;
  const client = apiClient(config, undefined, (line) => notes.note(line));
  const writer = new JsonManifestWriter(file, selector.defaults ?? {});
  const found = new Map<string, { listed: number; matched: number }>();
  const expect = select.where && Object.keys(select.where).length > 0 ? select.where : undefined;
  let complete = false;
  try {
    const agents = selectAgents({
      client,
      orgs: select.orgs,
      type: select.type,
      search: select.search,
      where: whereList(select),
      pace: config.rate,
      concurrency: config.concurrency,
      onProgress: (org, listed, matched) => found.set(org, { listed, matched }),
      onBadId: (org, id, problem) => notes.note(`select: ${org}: the API listed an agent whose id ${JSON.stringify(printable(id).slice(0, 80))} ${problem}: left notes`),
    });
    for await (const agent of agents) await writer.add({ ...agent, ...(expect ? { expect } : {}) });
    complete = true;
  } catch (error) {
    throw selectFailure(error, config);
  } finally {
    client.close();
    await writer.close(complete);
  }
  return found;
}

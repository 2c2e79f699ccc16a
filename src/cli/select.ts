/**
 * `nova-fleet select --org ORG … [--type] [--search] [--where PATH=VALUE…] [--out FILE] [--format]`:
 * the matching agents as a manifest skeleton (`org_id,agent_id` rows; add patch columns). Orgs are
 * always named (`--all-orgs` is refused). Exit 0; 2 for bad usage or an org with no key; 3 if the API
 * refuses a key or cannot be reached.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { UsageError } from '../errors.js';
import { parseWhere, selectAgents } from '../select/select.js';
import { requireWritableTarget } from '../user-files.js';
import { printable } from '../printable.js';
import { apiClient, requireKeysFor, selectFailure } from '../ops/api-context.js';
import { configFrom, type ApiFlags, type RedisFlags } from '../ops/context.js';
import type { Output } from './output.js';

export interface SelectFlags extends ApiFlags, Pick<RedisFlags, 'config'> {
  org?: string[];
  type?: string;
  search?: string;
  where?: string[];
  out?: string;
  format?: 'csv' | 'ndjson';
  allOrgs?: boolean;
}

export async function selectCommand(flags: SelectFlags, out: Output): Promise<number> {
  if (flags.allOrgs) throw new UsageError('--all-orgs is refused: a key belongs to one org, and a fleet change names its orgs', 'give --org ORG once per org');
  const orgs = [...new Set(flags.org ?? [])];
  if (orgs.length === 0) throw new UsageError('select needs --org ORG (once per org)');
  let where;
  try {
    where = (flags.where ?? []).map(parseWhere);
  } catch (error) {
    throw new UsageError(`--where ${(error as Error).message}`);
  }
  const format = flags.format ?? (flags.out?.endsWith('.ndjson') ? 'ndjson' : 'csv');
  if (flags.out) await requireWritableTarget(flags.out, 'select output');
  const config = configFrom(flags);
  requireKeysFor(config, orgs);
  const client = apiClient(config, undefined, (line) => out.note(line));
  const sink = flags.out ? createWriteStream(flags.out) : process.stdout;
  const write = async (line: string) => {
    if (!sink.write(`${line}\n`)) await once(sink, 'drain');
  };
  let total = 0;
  let badIds = 0;
  // --json without --out: stdout is one JSON document (SPEC §6), an array of the rows, streamed.
  const jsonArray = out.json && !flags.out;
  try {
    if (jsonArray) await write('[');
    else if (format === 'csv') await write('org_id,agent_id');
    const rows = selectAgents({
      client,
      orgs,
      type: flags.type,
      search: flags.search,
      where,
      pace: config.rate,
      concurrency: config.concurrency,
      onProgress: (org, listed, matched) => out.note(`select: ${org}: ${matched} of ${listed} listed so far match`),
      onBadId: (org, id, problem) => {
        if (badIds++ < 5) out.note(`select: ${org}: the API listed an agent whose id ${JSON.stringify(printable(id).slice(0, 80))} ${problem}: left out`);
      },
    });
    for await (const row of rows) {
      total++;
      if (jsonArray) await write(`${total > 1 ? ',' : ''}${JSON.stringify(row)}`);
      else await write(format === 'csv' ? `${csvCell(row.org_id)},${csvCell(row.agent_id)}` : JSON.stringify(row));
    }
    if (jsonArray) await write(']');
  } catch (error) {
    throw selectFailure(error, config);
  } finally {
    client.close();
    if (sink !== process.stdout) {
      sink.end();
      await once(sink, 'close');
    }
  }
  if (badIds > 5) out.note(`select: ${badIds} listed agents in all had ids no manifest can hold: left out`);
  out.note(`select: ${total} agent${total === 1 ? '' : 's'} in ${orgs.length} org${orgs.length === 1 ? '' : 's'}${flags.out ? ` written to ${flags.out}` : ''}`);
  if (out.json && flags.out) out.result('', { out: flags.out, format, agents: total, leftOut: badIds });
  return 0;
}

/** A CSV cell: quoted when it holds a comma, a quote or a line break (ids normally do not). */
function csvCell(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

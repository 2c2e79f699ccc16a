/**
 * Writes the example manifests of jobs/ from the mock's default fleet (seed 1, 100 agents, 3 orgs),
 * so that the README, the demo and the tests run them against `nova-fleet mock-api` unchanged.
 * Run after changing the fleet generator: `npm run build && node dist/bench/make-jobs.js`.
 * (test/examples.test.ts fails if the examples and the fleet drift apart.)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateFleet } from '../src/mock/fleet.js';
import { PACKAGE_ROOT } from '../src/package-info.js';

const jobs = path.join(PACKAGE_ROOT, 'jobs');
const fleet = [...generateFleet({ agents: 100, orgs: 3, seed: 1 }).agents.values()];
const ids = (a: (typeof fleet)[number]) => ({ org_id: String(a.organization_id), agent_id: a.id });
const COMPANIES = ['Acme', 'Globex', 'Initech', 'Umbrella Health', 'Stark Mobility', 'Wayne Logistics', 'Hooli Bank'];
const companyOf = (name: string) => COMPANIES.find((c) => name.startsWith(c)) ?? 'Nova';

// 1. Prompt rollout: one template for the fleet, filled per agent from vars (JSON, defaults form).
mkdirSync(path.join(jobs, 'prompts'), { recursive: true });
writeFileSync(
  path.join(jobs, 'prompt-rollout.json'),
  `${JSON.stringify(
    {
      defaults: {
        patch: { prompt_template: { $template: 'prompts/support-v2.md' }, greeting_config: { pause_before_first_message: 0.5 } },
        vars: { ESCALATION_PHONE: '+44 20 7946 0000' },
      },
      agents: fleet.slice(0, 40).map((a) => ({
        ...ids(a),
        // The persona's name, as the mock's generated prompt introduces it ("You are Ava, …").
        vars: { COMPANY: companyOf(String(a.name)), AGENT_NAME: /You are (\w+),/.exec(String(a.prompt_template))?.[1] ?? 'Nova', LANGUAGE: String((a.transcriber_config as Record<string, unknown>).language) },
      })),
    },
    null,
    2,
  )}\n`,
);

// 2. Config migration across orgs: new VAD and turn detection (CSV, dotted columns).
const csv = ['org_id,agent_id,vad_config.activation_threshold,vad_config.min_silence_duration,extra_config.turn_detector_enabled,extra_config.turn_detector_model_type,extra_config.interruption_sensitivity'];
for (const a of fleet.slice(40, 70)) csv.push(`${a.organization_id},${a.id},0.55,0.4,true,multilingual,0.6`);
writeFileSync(path.join(jobs, 'vad-migration.csv'), `${csv.join('\n')}\n`);

// 3. Maintenance-window change: rebrand text in place and shorten rooms (NDJSON, $replace).
const ndjson = fleet.slice(70, 100).map((a) =>
  JSON.stringify({
    ...ids(a),
    patch: {
      prompt_template: { $replace: { find: 'Acme', with: 'Acme Corp' } },
      goodbye_config: { message: { $replace: { find: 'Goodbye!', with: 'Have a good day!' } } },
      room_duration_config: { max_duration_min: 20, duration_warning_message: 'We have two minutes left on this call.' },
    },
  }),
);
writeFileSync(path.join(jobs, 'maintenance-window.ndjson'), `${ndjson.join('\n')}\n`);
console.log(`wrote jobs/prompt-rollout.json (40), jobs/vad-migration.csv (30), jobs/maintenance-window.ndjson (30)`);

/**
 * The mock's in-memory fleet: agents generated deterministically from a seed, with every documented
 * field, the required keys of the free-form objects (SPEC §2) and multi-KB prompts built from
 * realistic sections, so that snapshots, compression and `$replace` are exercised on real-sized data.
 */
import type { Agent, Json } from '../api/types.js';
import { Random } from './random.js';

export interface FleetOptions {
  /** Number of agents. Default 100. */
  agents?: number;
  /** Number of organisations the agents are spread over (round-robin). Default 3. */
  orgs?: number;
  /** PRNG seed: the same seed gives the same fleet. Default 1. */
  seed?: number;
  /** Approximate length of each prompt in bytes. Default 3000 (the vendor's prompts are often several KB). */
  promptBytes?: number;
  /**
   * The fleet as versions before issue 24 made it — ASCII only, no unknown keys — for fixtures recorded
   * against it (test/fixtures/batch-v0.json). Default false: names and prompts carry umlauts, CJK and
   * emoji, and llm_config a key nova-fleet does not know.
   */
  plainText?: boolean;
}

export interface Fleet {
  orgIds: string[];
  /** `org_id/agent_id` → agent. The mock mutates these objects in place on PATCH. */
  agents: Map<string, Agent>;
  /** Agents of each org, in creation order (for the list endpoint). */
  byOrg: Map<string, Agent[]>;
}

export const agentKey = (orgId: string, agentId: string): string => `${orgId}/${agentId}`;

const COMPANIES = ['Acme', 'Globex', 'Initech', 'Umbrella Health', 'Stark Mobility', 'Wayne Logistics', 'Hooli Bank'];
const ROLES = ['customer support', 'appointment booking', 'order status', 'insurance claims', 'IT helpdesk', 'sales qualification'];
const PERSONAS = ['Ava', 'Noah', 'Mia', 'Leo', 'Zoe', 'Sam', 'Ivy', 'Max'];
const LANGUAGES = ['en-US', 'en-GB', 'de-DE', 'fr-FR', 'es-ES'];
const NAME_SUFFIXES = ['', ' · Müller & Söhne', ' (東京)', ' 🚀', ''];
const RULES = [
  'Never ask for a full card number; only the last four digits are needed to find an order.',
  'If the caller sounds distressed, slow down, acknowledge the feeling and offer a human colleague.',
  'Confirm names and dates by reading them back before you book anything.',
  'Keep every answer under three sentences unless the caller asks for detail.',
  'Do not promise refunds; explain the policy and open a ticket instead.',
  'When the line is noisy, ask the caller to repeat rather than guessing.',
  'Use the caller\'s first name once they have given it, and not more than twice per call.',
  'If a question is outside {{company}} products, say so politely and steer back.',
  'Before ending the call, summarise what was agreed and what happens next.',
  'Escalate to a supervisor when the caller mentions legal action or a regulator.',
];
const FAQ = [
  ['What are your opening hours?', 'Our team is available Monday to Friday from 8am to 8pm, and Saturdays from 9am to 1pm.'],
  ['How do I reset my password?', 'Open the app, tap "Forgot password" and follow the link we email to you within five minutes.'],
  ['Can I change my appointment?', 'Yes, up to 24 hours before. I can move it for you now if you tell me a date that suits you.'],
  ['Where is my order?', 'I can check that: please give me the order number from your confirmation email.'],
  ['Do you ship abroad?', 'We ship to the EU, the UK and Switzerland; delivery takes three to seven working days.'],
  ['How do I cancel my plan?', 'You can cancel at any time in your account settings; the plan runs to the end of the month.'],
] as const;

function prompt(random: Random, persona: string, company: string, role: string, targetBytes: number, plain: boolean): string {
  const parts: string[] = [
    `# Role\nYou are ${persona}, the ${role} voice agent of ${company}. You speak on the phone with ${company} customers.`,
    `# Tone\nWarm, brief and precise. Speak in plain language, avoid jargon, and never read out internal codes. ${company} values honesty over speed.`,
    '# Rules',
  ];
  let size = parts.reduce((n, p) => n + p.length + 2, 0);
  let i = 0;
  while (size < targetBytes) {
    const section = i % 3;
    const text =
      section === 0
        ? `- ${random.pick(RULES).replaceAll('{{company}}', company)}`
        : section === 1
          ? (([q, a]) => `Q: ${q}\nA: ${a}`)(random.pick(FAQ))
          : `- When asked about ${role}, check the ${company} knowledge base entry ${1000 + random.int(9000)} first.`;
    parts.push(text);
    size += text.length + 2;
    i++;
  }
  // Real prompts are not ASCII: quotes, umlauts, CJK and emoji, which every snapshot must keep exactly.
  if (!plain) parts.push('# Languages\nGreet German callers with „Grüß Gott, schön, dass Sie anrufen“, Japanese callers with 「お電話ありがとうございます」, and never read emoji such as 👋 or 🚀 aloud.');
  parts.push(`# Closing\nThank the caller for choosing ${company} and wish them a good day.`);
  return parts.join('\n\n');
}

function makeAgent(random: Random, orgId: string, index: number, promptBytes: number, createdAt: Date, plain: boolean): Agent {
  const company = random.pick(COMPANIES);
  const role = random.pick(ROLES);
  const persona = random.pick(PERSONAS);
  const type = random.chance(0.8) ? 'voice' : random.chance(0.5) ? 'chat' : 'video';
  const stamp = createdAt.toISOString();
  const model = random.pick(['gpt-4o-mini', 'gpt-4.1', 'claude-sonnet-4']);
  const agent: Record<string, Json> = {
    id: random.uuid(),
    organization_id: orgId,
    // Some names carry non-ASCII text (from the index alone: the seed's random sequence is unchanged).
    name: `${company} ${role} ${String(index + 1).padStart(5, '0')}${plain ? '' : NAME_SUFFIXES[index % NAME_SUFFIXES.length]}`,
    type,
    prompt_template: prompt(random, persona, company, role, promptBytes, plain),
    default_functions: ['end_call', ...(random.chance(0.5) ? ['transfer_call'] : [])],
    plugins: random.chance(0.3) ? [{ name: 'sentiment', enabled: true }] : [],
    allowed_sip_trunks: random.chance(0.4) ? [`trunk-${random.int(10)}`] : [],
    extra_config: {
      allow_interruptions: random.chance(0.7),
      interruption_sensitivity: Math.round(random.next() * 100) / 100,
      min_words: random.int(4),
      turn_detector_enabled: random.chance(0.5),
      turn_detector_is_multilingual: random.chance(0.3),
      turn_detector_model_type: random.pick(['en', 'multilingual']),
      use_gender_plugin: random.pick(['none', 'auto']),
    },
    goodbye_config: { enabled: random.chance(0.8), message: `Thank you for calling ${company}. Goodbye!` },
    greeting_config: {
      agent_speaks_first: random.chance(0.9),
      greeting: `Hello, this is ${persona} from ${company}. How can I help you today?`,
      pause_before_first_message: random.int(3),
      voice_mail_message: `Hi, this is ${persona} from ${company}. Please call us back at your convenience.`,
      welcome_message_is_generated: random.chance(0.2),
    },
    room_duration_config: {
      close_room_message: 'We have reached the time limit for this call. Goodbye.',
      duration_warning_message: 'We have about one minute left on this call.',
      max_duration_min: random.pick([10, 15, 30, 60]),
      max_silence_sec: random.pick([10, 20, 30]),
      silence_message: 'Are you still there?',
      wait_for_message_sec: random.pick([5, 10]),
    },
    vad_config: {
      activation_threshold: random.pick([0.4, 0.5, 0.6]),
      max_buffered_speech: 60,
      min_silence_duration: random.pick([0.3, 0.55, 0.8]),
      min_speech_duration: 0.05,
      prefix_padding_duration: 0.5,
      sample_rate: random.pick([8000, 16000, 24000]),
    },
    llm_config: {
      model,
      provider: model.startsWith('claude') ? 'anthropic' : 'openai',
      temperature: random.pick([0.2, 0.4, 0.7]),
      max_tokens: 512,
      // A key nova-fleet does not know, in a free-form object: a merge must keep it.
      ...(plain ? {} : { vendor_routing: { region: 'eu-central-1', labels: ['prod', 'Zürich'] } }),
    },
    voice_config: { model: 'eleven_turbo_v2', provider: 'elevenlabs', voice_id: `voice-${random.int(50)}`, speed: 1 },
    transcriber_config: { provider: random.pick(['deepgram', 'speechmatics']), model: 'nova-2', language: random.pick(LANGUAGES) },
    background_sound: { file: random.pick(['office.mp3', 'cafe.mp3', 'none.mp3']), volume: 0.2 },
    precall_webhook: { method: 'POST', url: `https://hooks.${company.toLowerCase().replace(/\s+/g, '-')}.example/precall` },
    tools: [
      {
        tool_id: random.uuid(),
        name: 'lookup_order',
        description: 'Find an order by its number',
        method: 'GET',
        url: 'https://api.example/orders/{order_id}',
        is_enabled: true,
        config_override: {},
        parameters: [{ name: 'order_id', type: 'string', description: 'Order number', required: true }],
      },
    ],
    public_quota: 100 + random.int(900),
    created_at: stamp,
    updated_at: stamp,
  };
  return agent as Agent;
}

export function generateFleet(options: FleetOptions = {}): Fleet {
  const count = options.agents ?? 100;
  const orgCount = options.orgs ?? 3;
  const random = new Random(options.seed ?? 1);
  const orgIds = Array.from({ length: orgCount }, () => random.uuid());
  const agents = new Map<string, Agent>();
  const byOrg = new Map<string, Agent[]>(orgIds.map((id) => [id, []]));
  // Fixed epoch so the same seed yields byte-identical agents on every run.
  const epoch = Date.UTC(2026, 0, 1);
  for (let i = 0; i < count; i++) {
    const orgId = orgIds[i % orgCount]!;
    const agent = makeAgent(random, orgId, i, options.promptBytes ?? 3000, new Date(epoch + i * 60_000), options.plainText ?? false);
    agents.set(agentKey(orgId, agent.id), agent);
    byOrg.get(orgId)!.push(agent);
  }
  return { orgIds, agents, byOrg };
}

/**
 * The mock's own check of a PATCH body, written from the vendor's page (shared/seed) and the facts its
 * OpenAPI document and SDK add (SPEC §2) — not from `src/patch/`, so that the product's validation is
 * tested against an independent reading instead of against itself. As strict as the real API may be:
 * unknown or read-only fields, wrong types, values out of the documented ranges, a free-form object
 * without its required keys. Free-form objects keep keys it does not know (they are the vendor's to
 * grow); documented objects do not.
 */

type Check = (value: unknown, path: string) => string | undefined;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

const string: Check = (v, p) => (typeof v === 'string' ? undefined : `${p}: must be a string`);
const boolean: Check = (v, p) => (typeof v === 'boolean' ? undefined : `${p}: must be a boolean`);
const number =
  (min?: number, max?: number, integer = false, above = false): Check =>
  (v, p) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) return `${p}: must be a number`;
    if (integer && !Number.isInteger(v)) return `${p}: must be an integer`;
    if (min !== undefined && (above ? v <= min : v < min)) return `${p}: must be ${above ? 'greater than' : 'at least'} ${min}`;
    if (max !== undefined && v > max) return `${p}: must be at most ${max}`;
    return undefined;
  };
const oneOf =
  (...values: string[]): Check =>
  (v, p) =>
    typeof v === 'string' && values.includes(v) ? undefined : `${p}: must be one of ${values.join(', ')}`;
const stringArray: Check = (v, p) => (Array.isArray(v) && v.every((item) => typeof item === 'string') ? undefined : `${p}: must be an array of strings`);
const anyArray: Check = (v, p) => (Array.isArray(v) ? undefined : `${p}: must be an array`);

/** A documented object: only these keys, each optional. */
const documented =
  (keys: Record<string, Check>): Check =>
  (v, p) => {
    if (!isObject(v)) return `${p}: must be an object`;
    for (const [key, item] of Object.entries(v)) {
      const check = keys[key];
      if (!check) return `${p}.${key}: extra fields not permitted`;
      const problem = check(item, `${p}.${key}`);
      if (problem) return problem;
    }
    return undefined;
  };

/** A free-form object: these keys required (and checked), any other key kept as it is. */
const freeForm =
  (required: Record<string, Check>): Check =>
  (v, p) => {
    if (!isObject(v)) return `${p}: must be an object`;
    for (const [key, check] of Object.entries(required)) {
      if (!(key in v)) return `${p}.${key}: field required`;
      const problem = check(v[key], `${p}.${key}`);
      if (problem) return problem;
    }
    return undefined;
  };

const FIELDS: Record<string, Check> = {
  name: string,
  prompt_template: string,
  type: oneOf('voice', 'chat', 'video'),
  default_functions: stringArray,
  plugins: anyArray,
  allowed_sip_trunks: stringArray,
  extra_config: documented({
    allow_interruptions: boolean,
    interruption_sensitivity: number(0, 1),
    min_words: number(0, undefined, true),
    turn_detector_enabled: boolean,
    turn_detector_is_multilingual: boolean,
    turn_detector_model_type: string,
    use_gender_plugin: string,
  }),
  goodbye_config: documented({ enabled: boolean, message: string }),
  greeting_config: documented({
    agent_speaks_first: boolean,
    greeting: string,
    pause_before_first_message: number(0),
    voice_mail_message: string,
    welcome_message_is_generated: boolean,
  }),
  room_duration_config: documented({
    close_room_message: string,
    duration_warning_message: string,
    max_duration_min: number(1),
    max_silence_sec: number(0),
    silence_message: string,
    wait_for_message_sec: number(0),
  }),
  vad_config: documented({
    activation_threshold: number(0, 1),
    max_buffered_speech: number(1),
    min_silence_duration: number(0),
    min_speech_duration: number(0),
    prefix_padding_duration: number(0),
    sample_rate: number(8000, 48000, true),
  }),
  llm_config: freeForm({ model: string, provider: oneOf('openai', 'anthropic') }),
  voice_config: freeForm({ model: string, provider: string }),
  transcriber_config: freeForm({ provider: oneOf('deepgram', 'elevenlabs', 'speechmatics') }),
  background_sound: freeForm({ file: string }),
  precall_webhook: freeForm({ method: oneOf('GET', 'POST', 'PUT', 'PATCH'), url: string }),
};

const READ_ONLY = new Set(['id', 'organization_id', 'created_at', 'updated_at', 'public_quota', 'tools']);

/** Every problem of a PATCH body (empty: the body is good), one line each, as the API's 400 says them. */
export function bodyProblems(body: unknown): string[] {
  if (!isObject(body)) return ['body: must be a JSON object'];
  const problems: string[] = [];
  for (const [field, value] of Object.entries(body)) {
    if (READ_ONLY.has(field)) problems.push(`${field}: read-only field`);
    else if (!Object.hasOwn(FIELDS, field)) problems.push(`${field}: extra fields not permitted`);
    else {
      const problem = FIELDS[field]!(value, field);
      if (problem) problems.push(problem);
    }
  }
  return problems;
}

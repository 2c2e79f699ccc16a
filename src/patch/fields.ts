/**
 * The agent resource of `PATCH /org/{org_id}/agents/{agent_id}` (SPEC §2), as one declarative
 * catalogue. Everything that needs to know a field's type derives from this table: the zod schema
 * of a PATCH body (the mock validates with it, the engine checks merged values with it), CSV cell
 * coercion, and the manifest's "unknown or read-only field" checks.
 */

/** A scalar or array leaf inside a documented object, or a top-level scalar/array field. */
export type LeafSpec =
  | { readonly kind: 'string' }
  | { readonly kind: 'boolean' }
  | {
      readonly kind: 'number';
      readonly int?: boolean;
      readonly min?: number;
      /** true when `min` itself is not allowed (`> 0` rather than `≥ 0`). */
      readonly minExclusive?: boolean;
      readonly max?: number;
    }
  | { readonly kind: 'enum'; readonly values: readonly string[] }
  | { readonly kind: 'string[]' }
  | { readonly kind: 'array' };

/**
 * A documented object: its keys are known, an unknown key is an error (a typo such as
 * `interuption_sensitivity` must never reach a fleet).
 */
export interface DocumentedObjectSpec {
  readonly kind: 'object';
  readonly keys: Readonly<Record<string, LeafSpec>>;
}

/**
 * A free-form object: some keys are required by the API (from the vendor's OpenAPI-generated SDK),
 * e.g. `llm_config` needs `model` and `provider`, and the SDK names its optional ones. A key outside
 * both is almost always a typo (`temprature`): the manifest check refuses it with a "did you mean",
 * unless `--allow-unknown-keys`. The API itself (and the mock) takes any key.
 */
export interface FreeformObjectSpec {
  readonly kind: 'freeform';
  readonly required: Readonly<Record<string, LeafSpec>>;
  /** The optional keys the vendor's SDK knows (`any`: arbitrary JSON). */
  readonly known: Readonly<Record<string, LeafSpec | { readonly kind: 'any' }>>;
}

export type FieldSpec = LeafSpec | DocumentedObjectSpec | FreeformObjectSpec;

const str = { kind: 'string' } as const;
const bool = { kind: 'boolean' } as const;
const unit = { kind: 'number', min: 0, max: 1 } as const;
const nonNegative = { kind: 'number', min: 0 } as const;
const num = { kind: 'number' } as const;
const int = { kind: 'number', int: true, min: 0 } as const;
const strings = { kind: 'string[]' } as const;
const any = { kind: 'any' } as const;

/** Writable top-level fields (what a PATCH body may carry). */
export const WRITABLE_FIELDS: Readonly<Record<string, FieldSpec>> = {
  name: str,
  prompt_template: str,
  type: { kind: 'enum', values: ['voice', 'chat', 'video'] },
  default_functions: { kind: 'string[]' },
  plugins: { kind: 'array' },
  allowed_sip_trunks: { kind: 'string[]' },
  extra_config: {
    kind: 'object',
    keys: {
      allow_interruptions: bool,
      interruption_sensitivity: unit,
      min_words: { kind: 'number', int: true, min: 0 },
      turn_detector_enabled: bool,
      turn_detector_is_multilingual: bool,
      turn_detector_model_type: str,
      use_gender_plugin: str,
    },
  },
  goodbye_config: { kind: 'object', keys: { enabled: bool, message: str } },
  greeting_config: {
    kind: 'object',
    keys: {
      agent_speaks_first: bool,
      greeting: str,
      pause_before_first_message: nonNegative,
      voice_mail_message: str,
      welcome_message_is_generated: bool,
    },
  },
  room_duration_config: {
    kind: 'object',
    keys: {
      close_room_message: str,
      duration_warning_message: str,
      max_duration_min: { kind: 'number', min: 1 },
      max_silence_sec: nonNegative,
      silence_message: str,
      wait_for_message_sec: nonNegative,
    },
  },
  vad_config: {
    kind: 'object',
    keys: {
      activation_threshold: unit,
      max_buffered_speech: { kind: 'number', min: 1 },
      min_silence_duration: nonNegative,
      min_speech_duration: nonNegative,
      prefix_padding_duration: nonNegative,
      sample_rate: { kind: 'number', int: true, min: 8000, max: 48000 },
    },
  },
  llm_config: {
    kind: 'freeform',
    required: { model: str, provider: { kind: 'enum', values: ['openai', 'anthropic'] } },
    known: { frequency_penalty: num, max_tokens: { kind: 'number', int: true, min: 1 }, parallel_tool_calls: bool, presence_penalty: num, system_prompt: str, temperature: nonNegative, top_k: int, top_p: unit },
  },
  voice_config: {
    kind: 'freeform',
    required: { model: str, provider: str },
    known: { language: str, sample_rate: int, similarity_boost: num, speed: { kind: 'number', min: 0.1 }, stability: num, style: num, use_speaker_boost: bool, voice_id: str },
  },
  transcriber_config: {
    kind: 'freeform',
    required: { provider: { kind: 'enum', values: ['deepgram', 'elevenlabs', 'speechmatics'] } },
    known: {
      commit_strategy: { kind: 'enum', values: ['manual', 'vad'] },
      detect_language: bool,
      eager_eot_threshold: num,
      enable_logging: bool,
      endpointing: num,
      endpointing_ms: num,
      energy_filter: bool,
      eot_threshold: num,
      eot_timeout_ms: num,
      filler_words: bool,
      include_language_detection: bool,
      include_timestamps: bool,
      interim_results: bool,
      keyterms: strings,
      keywords: strings,
      language: str,
      language_code: str,
      min_speech_duration_ms: num,
      model: str,
      no_delay: bool,
      num_channels: int,
      preemptive_generation: bool,
      preemptive_min_confidence: num,
      profanity_filter: bool,
      punctuate: bool,
      sample_rate: int,
      smart_format: bool,
      vad_events: bool,
    },
  },
  background_sound: { kind: 'freeform', required: { file: str }, known: { enabled: bool, initial_volume: num, thinking_sound: { kind: 'array' }, volume: num } },
  precall_webhook: {
    kind: 'freeform',
    required: { method: { kind: 'enum', values: ['GET', 'POST', 'PUT', 'PATCH'] }, url: str },
    known: { body_template: any, headers: any, timeout_seconds: nonNegative },
  },
};

/**
 * Fields the API returns but a PATCH neither changes nor restores (tools and SIP trunks have their
 * own sub-resources; ids and timestamps are the server's).
 */
export const READ_ONLY_FIELDS: ReadonlySet<string> = new Set([
  'id',
  'organization_id',
  'created_at',
  'updated_at',
  'public_quota',
  'tools',
]);

/** Keys that would let a manifest reach into Object.prototype; rejected anywhere in a patch. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export function isWritableField(name: string): boolean {
  return Object.hasOwn(WRITABLE_FIELDS, name);
}

/** The spec of `field` or `field.key` (a documented or required key), or undefined when unknown. */
export function specAt(path: readonly string[]): FieldSpec | undefined {
  const [top, key, ...rest] = path;
  if (top === undefined || !isWritableField(top)) return undefined;
  const spec = WRITABLE_FIELDS[top]!;
  if (key === undefined) return spec;
  if (rest.length > 0) return undefined;
  if (spec.kind === 'object') return Object.hasOwn(spec.keys, key) ? spec.keys[key] : undefined;
  if (spec.kind === 'freeform') {
    if (Object.hasOwn(spec.required, key)) return spec.required[key];
    const known = Object.hasOwn(spec.known, key) ? spec.known[key] : undefined;
    return known?.kind === 'any' ? undefined : known;
  }
  return undefined;
}

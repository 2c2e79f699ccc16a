import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.js';
import { capture } from './helpers/capture.js';

describe('logger', () => {
  it('writes JSON lines with the fields given', () => {
    const out = capture();
    createLogger({ format: 'json', destination: out.stream }).info({ batch: 'b1', org: 'o1', agent: 'a1', status: 'applied' }, 'agent applied');
    expect(JSON.parse(out.text())).toMatchObject({ level: 30, service: 'nova-fleet', batch: 'b1', org: 'o1', agent: 'a1', status: 'applied', msg: 'agent applied' });
  });

  it('redacts the API key wherever something might have passed it (second line of defence)', () => {
    const out = capture();
    const log = createLogger({ format: 'json', destination: out.stream });
    const key = 'sk-live-REDACTME-0123456789';
    log.info({ apiKey: key, config: { apiKey: key }, headers: { 'x-api-key': key, authorization: `Bearer ${key}` }, options: { headers: { 'x-api-key': key } } }, 'oops');
    log.info({ NOVA_API_KEY: key }, 'env dump');
    expect(out.text()).not.toContain('REDACTME');
    expect(out.text()).toContain('[redacted]');
  });

  it('writes readable lines in pretty format, and honours the level', () => {
    const out = capture();
    const log = createLogger({ format: 'pretty', level: 'warn', destination: out.stream });
    log.info('not shown');
    log.warn({ batch: 'b1' }, 'attempt failed');
    expect(out.text()).not.toContain('not shown');
    expect(out.text()).toMatch(/WARN.*attempt failed/);
    expect(out.text()).toContain('batch: "b1"');
  });
});

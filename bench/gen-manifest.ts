/**
 * Writes a large CSV manifest (streamed, so the generator itself stays small):
 * `node dist/bench/gen-manifest.js FILE ROWS`. Ids are UUID-shaped, spread over 50 orgs; each row sets
 * a name, a number, an enum and a nested key — the cells validation has to coerce and check.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { Random } from '../src/mock/random.js';

export async function generateCsvManifest(file: string, rows: number): Promise<void> {
  const out = createWriteStream(file);
  const random = new Random(7);
  const orgs = Array.from({ length: 50 }, () => random.uuid());
  const write = async (text: string) => {
    if (!out.write(text)) await once(out, 'drain');
  };
  await write('org_id,agent_id,name,type,extra_config.interruption_sensitivity,vad_config.sample_rate\n');
  let batch = '';
  for (let i = 0; i < rows; i++) {
    batch += `${orgs[i % orgs.length]},${random.uuid()},Support agent ${i},voice,0.${i % 10},16000\n`;
    if (batch.length > 1 << 16) {
      await write(batch);
      batch = '';
    }
  }
  await write(batch);
  out.end();
  await once(out, 'close');
}

if (process.argv[1]?.endsWith('gen-manifest.js')) {
  const [file, rows] = process.argv.slice(2);
  if (!file) throw new Error('usage: node dist/bench/gen-manifest.js FILE [ROWS]');
  await generateCsvManifest(file, Number(rows ?? 1_000_000));
}

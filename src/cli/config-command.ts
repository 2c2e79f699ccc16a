/** `nova-fleet config`: the configuration as resolved from flags, environment and the config file, secrets masked. */
import { loadConfigFile, printableConfig, resolveConfig } from '../config.js';
import type { Output } from './output.js';

export async function configCommand(o: { prefix?: string; config?: string }, out: Output): Promise<void> {
  const file = loadConfigFile(o.config);
  const config = { ...printableConfig(resolveConfig(o.prefix ? { prefix: o.prefix } : {}, process.env, file.values)), configFile: file.file ?? '(none)' };
  out.result(
    Object.entries(config)
      .map(([k, v]) => `${k.padEnd(12)} ${String(v)}`)
      .join('\n'),
    config,
  );
}

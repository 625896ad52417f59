/**
 * The settings the server really reads, taken from its Rust source, so that the tests check the
 * stack's variable names against the code rather than against a copy of them.
 */

import { readFileSync } from 'node:fs';
import * as path from 'node:path';

const CRATE = path.resolve(__dirname, '..', '..', 'crates', 'http-actix', 'src');

/** The section structs of `Settings` and their files. */
const SECTIONS: Readonly<Record<string, string>> = {
  ServerSettings: 'server.rs',
  AuthSettings: 'auth.rs',
  LimitsSettings: 'limits.rs',
  DatabaseSettings: 'database.rs',
  JobsSettings: 'jobs.rs',
  StorageSettings: 'storage.rs',
  ComputeSettings: 'compute.rs',
  WorkflowSettings: 'workflows.rs',
  EmailSettings: 'email.rs',
};

function read(file: string): string {
  try {
    return readFileSync(path.join(CRATE, file), 'utf8');
  } catch (error) {
    throw new Error(`cannot read the server's settings from ${file}: ${(error as Error).message}`);
  }
}

/** Every flat setting name (`s3_bucket`, `storage`, …) of the server's configuration. */
export function settingNames(): Set<string> {
  const names = new Set<string>();
  for (const [struct, file] of Object.entries(SECTIONS)) {
    const source = read(path.join('config', file));
    const start = source.indexOf(`pub struct ${struct} {`);
    if (start < 0) {
      throw new Error(`no struct ${struct} in config/${file}`);
    }
    const body = source.slice(start, source.indexOf('\n}', start));
    let rename: string | undefined;
    for (const line of body.split('\n').slice(1)) {
      const renamed = /#\[serde\(rename = "(\w+)"\)\]/.exec(line);
      const field = /^\s*pub (\w+):/.exec(line);
      if (renamed) {
        rename = renamed[1];
      } else if (field) {
        names.add(rename ?? field[1]);
        rename = undefined;
      }
    }
  }
  return names;
}

/** `R1_ENV_NAMES` of `config.rs`: the settings also read under their bare upper-cased name. */
export function r1Names(): Set<string> {
  const list = /R1_ENV_NAMES: \[&str; \d+\] = \[([^\]]*)\]/.exec(read('config.rs'));
  if (!list) {
    throw new Error('no R1_ENV_NAMES in config.rs');
  }
  return new Set([...list[1].matchAll(/"(\w+)"/g)].map((m) => m[1]));
}

/** The environment names of `reefguide worker`'s options (`env = "…"` in `cli.rs`). */
export function workerOptionNames(): Set<string> {
  return new Set([...read('cli.rs').matchAll(/env = "(\w+)"/g)].map((m) => m[1]));
}

/** The setting an environment variable sets, or undefined when the server reads no such name. */
export function settingOf(variable: string): string | undefined {
  const settings = settingNames();
  const setting = variable.startsWith('REEFGUIDE_')
    ? variable.slice('REEFGUIDE_'.length).toLowerCase()
    : r1Names().has(variable)
      ? variable.toLowerCase()
      : undefined;
  return setting !== undefined && settings.has(setting) ? setting : undefined;
}

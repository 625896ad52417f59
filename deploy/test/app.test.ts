/** The CDK app itself: a bad configuration stops it with one line naming the file and field (a
 * good one is synthesized by `cargo xtask deploy-check`). */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { rawConfig } from './support';

/** Runs `bin/reefguide.ts` as the CDK CLI does, with `config` as the configuration file. */
function runApp(config: unknown): { status: number | null; stderr: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'reefguide-app-'));
  const file = path.join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(config));
  const outdir = path.join(dir, 'out');
  const run = spawnSync(process.execPath, ['--import', 'tsx', path.resolve(__dirname, '..', 'bin', 'reefguide.ts')], {
    cwd: path.resolve(__dirname, '..'),
    env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify({ config: file }), CDK_OUTDIR: outdir },
    encoding: 'utf8',
  });
  return { status: run.status, stderr: run.stderr };
}

test('a bad configuration exits 1 naming the file and the field', () => {
  const run = runApp(rawConfig((c) => (c.api.desiredCount = 0)));
  assert.equal(run.status, 1, run.stderr);
  assert.match(run.stderr.trim(), /^invalid deployment configuration \S+config\.json: api\.desiredCount: must be from 2 to 20, not 0$/);
});

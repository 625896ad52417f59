/** The configuration file: defaults, and a clear error naming the field for bad input. */

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig, parseConfig } from '../lib/config';
import { rawConfig } from './support';

/** The message of the ConfigError `raw` is refused with. */
function refusal(raw: unknown): string {
  try {
    parseConfig(raw);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `not a ConfigError: ${error}`);
    return error.message;
  }
  assert.fail('accepted');
}

test('the example configuration is valid', () => {
  const config = loadConfig(path.resolve(__dirname, '..', 'config.example.json'));
  assert.deepEqual(Object.keys(config.workers.targets), ['default', 'large']);
  assert.equal(config.database.kind, 'rds');
});

test('defaults fill what the file leaves out', () => {
  const config = parseConfig(rawConfig());
  assert.equal(config.stackName, 'ReefGuide');
  assert.equal(config.api.desiredCount, 2);
  assert.equal(config.api.maxCount, 2);
  assert.equal(config.api.port, 5000);
  assert.equal(config.storage.prefix, 'results');
  assert.deepEqual(config.database, { kind: 'rds', instanceType: 't4g.micro', allocatedStorageGiB: 20, multiAz: false, postgresVersion: '16' });
  assert.equal(config.workers.serviceTarget, 'default');
  assert.equal(config.workers.targets.default.image, 'build');
  assert.deepEqual(config.workers.targets.heavy.scaling, {
    sensitivity: 1.5, factor: 2, minWorkers: 0, maxWorkers: 3, cooldownSeconds: 60, maxLaunchPerCycle: 5,
  });
  assert.equal(config.mwaa, undefined);
  assert.deepEqual(parseConfig(rawConfig((c) => (c.storage = { corsAllowedOrigins: [] }))).storage.corsAllowedOrigins, []);
});

test('bad values are refused naming the field', () => {
  const cases: [(c: any) => void, RegExp][] = [
    [(c) => (c.api.desiredCount = 1), /^api\.desiredCount: must be from 2 to 20, not 1$/],
    [(c) => (c.api.desiredCount = 2.5), /^api\.desiredCount: must be a whole number$/],
    [(c) => (c.api.prot = 8080), /^api\.prot: unknown field$/],
    [(c) => delete c.api.workerUsername, /^api\.workerUsername: is required$/],
    [(c) => delete c.image, /^image: is required$/],
    [(c) => (c.api.cpu = 300), /^api\.cpu: must be one of 256, 512/],
    [(c) => (c.workers.targets.heavy.memoryMiB = 1024), /^workers\.targets\.heavy\.memoryMiB: Fargate with cpu 4096 takes 8192 to 30720 MiB/],
    [(c) => delete c.workers.targets.default, /^workers\.targets: must define the target "default"/],
    [(c) => (c.workers.serviceTarget = 'gpu'), /^workers\.serviceTarget: names no target \(default, heavy\)$/],
    [(c) => (c.workers.targets['bad name'] = {}), /^workers\.targets\.bad name: is not a valid name/],
    [(c) => (c.workers.targets.default.environment = { WORKER_PASSWORD: 'x' }), /WORKER_PASSWORD: comes from Secrets Manager/],
    [(c) => (c.workers.targets.heavy.scaling.minWorkers = 5), /^workers\.targets\.heavy\.scaling\.maxWorkers: must be from 5 to 10, not 3$/],
    [(c) => (c.secrets.jwtPrivateKeySecretArn = 'arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:jwt'), /^secrets\.jwtPrivateKeySecretArn: must be a complete Secrets Manager ARN/],
    [(c) => (c.database = { existingUrlSecretArn: 'nope' }), /^database\.existingUrlSecretArn: must be a complete/],
    [(c) => (c.database = { existingUrlSecretArn: 'arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:db-AbCdEf', instanceType: 't4g.micro' }), /^database\.instanceType: with existingUrlSecretArn only existingUrlSecretField may be set$/],
    [(c) => (c.database = { postgresVersion: '12' }), /^database\.postgresVersion: must be one of 15, 16, 17, not "12"$/],
    [(c) => (c.api.extraEnvironment = { DATABASE_URL: 'postgres://x' }), /^api\.extraEnvironment\.DATABASE_URL: is set by the stack itself/],
    [(c) => (c.api.extraEnvironment = { REEFGUIDE_S3_BUCKET: 'other' }), /^api\.extraEnvironment\.REEFGUIDE_S3_BUCKET: is set by the stack itself/],
    [(c) => (c.api.extraEnvironment = { 'lower-case': 'x' }), /^api\.extraEnvironment\.lower-case: is not a valid environment variable name$/],
    [(c) => (c.api.corsAllowedOrigins = ['https://app.example.org/path']), /^api\.corsAllowedOrigins\[0\]: /],
    [(c) => (c.logRetentionDays = 9999), /^logRetentionDays: must be one of 1, 3, 5/],
    [(c) => (c.mwaa = { environmentName: '1bad' }), /^mwaa\.environmentName: /],
    [(c) => (c.env = { account: '123', region: 'ap-southeast-2' }), /^env\.account: /],
    [(c) => (c.network = 'big'), /^network: must be an object$/],
    [(c) => (c.database = { existingUrlSecretField: 'url' }), /^database\.existingUrlSecretField: needs existingUrlSecretArn$/],
    [(c) => (c.api.corsAllowedOrigins = []), /^api\.corsAllowedOrigins: must be a non-empty array of strings$/],
  ];
  for (const [change, expected] of cases) {
    assert.match(refusal(rawConfig(change)), expected);
  }
  assert.match(refusal([]), /^\(root\): must be an object$/);
});

test('a file that is not JSON is refused with its path', () => {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'reefguide-config-')), 'config.json');
  writeFileSync(file, '{ "image": ');
  assert.throws(() => loadConfig(file), (error: unknown) => error instanceof ConfigError && error.message.includes(file));
});

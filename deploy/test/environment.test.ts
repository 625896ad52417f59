/** The variables' names against the server's source, and figment's inline syntax. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { envName, inline, MANAGED_SERVER_NAMES, SECRET_SETTINGS, WORKER_ENV } from '../lib/environment';
import { apiTask, container, environmentOf, rawConfig, secretsOf, synth, workerTasks } from './support';
import { settingNames, settingOf, workerOptionNames } from './server-settings';

test('every server variable the stack sets is a setting the server reads', () => {
  const { template } = synth(rawConfig((c) => (c.mwaa = { environmentName: 'labcas' })));
  const api = container(apiTask(template)[1], 'api');
  const names = [...Object.keys(environmentOf(api)), ...Object.keys(secretsOf(api))];
  assert.ok(names.length > 20, `only ${names.length} variables`);
  for (const name of names) {
    assert.ok(settingOf(name), `${name} is no setting of the server`);
  }
});

test('the managed and secret setting names exist in the server', () => {
  const settings = settingNames();
  for (const setting of SECRET_SETTINGS) {
    assert.ok(settings.has(setting), setting);
  }
  for (const name of MANAGED_SERVER_NAMES) {
    assert.ok(settingOf(name), name);
  }
});

test('R1 settings keep their R1 names, the others are prefixed', () => {
  assert.equal(envName('database_url'), 'DATABASE_URL');
  assert.equal(envName('jwt_private_key'), 'JWT_PRIVATE_KEY');
  assert.equal(envName('port'), 'PORT');
  assert.equal(envName('log_format'), 'REEFGUIDE_LOG_FORMAT');
  assert.equal(envName('metrics_token'), 'REEFGUIDE_METRICS_TOKEN');
});

test('worker variables are the names `reefguide worker` reads', () => {
  const options = workerOptionNames();
  for (const name of Object.values(WORKER_ENV)) {
    assert.ok(options.has(name), `${name} is no option of reefguide worker`);
  }
  const { template } = synth();
  for (const task of Object.values(workerTasks(template))) {
    const worker = container(task, 'worker');
    for (const name of [...Object.keys(environmentOf(worker)), ...Object.keys(secretsOf(worker))]) {
      assert.ok(options.has(name), `${name} is no option of reefguide worker`);
    }
  }
});

test('tables are written in figment inline syntax with quoted strings', () => {
  assert.equal(
    inline({ default: { task_definition: 'arn:aws:ecs:r:1:task-definition/w:3', subnets: ['a', 'b'], assign_public_ip: false, n: 2, f: 1.5 } }),
    '{"default"={"task_definition"="arn:aws:ecs:r:1:task-definition/w:3","subnets"=["a","b"],"assign_public_ip"=false,"n"=2,"f"=1.5}}',
  );
  assert.equal(inline('say "hi" \\ bye'), '"say \\"hi\\" \\\\ bye"');
  assert.throws(() => inline(Number.NaN), /cannot write NaN/);
});

/** Images: ECR images are pulled with granted rights, others as given, `build` from a Dockerfile. */

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { Images } from '../lib/images';
import { allowing, flatten, only } from './support';

/** The template of a task definition running `spec`, built in `buildContext`. */
function taskWith(spec: string, buildContext = '/nonexistent'): Template {
  const stack = new Stack(new App(), 'Images', { env: { account: '123456789012', region: 'ap-southeast-2' } });
  const task = new ecs.FargateTaskDefinition(stack, 'Task');
  task.addContainer('c', { image: new Images(stack, 'Images', buildContext).image(spec) });
  return Template.fromStack(stack);
}

test('an ECR image is pulled from its repository with rights on that repository only', () => {
  const template = taskWith('210987654321.dkr.ecr.us-west-2.amazonaws.com/team/reefguide:1.2.3');
  const [, task] = only(template, 'AWS::ECS::TaskDefinition');
  assert.equal(
    flatten(task.Properties.ContainerDefinitions[0].Image),
    '210987654321.dkr.ecr.us-west-2.<AWS::URLSuffix>/team/reefguide:1.2.3',
  );
  const [, policy] = only(template, 'AWS::IAM::Policy');
  const [pull] = allowing(policy.Properties.PolicyDocument.Statement, 'ecr:BatchGetImage');
  assert.equal(flatten(pull.Resource), 'arn:<AWS::Partition>:ecr:us-west-2:210987654321:repository/team/reefguide');
});

test('an ECR digest stays a digest', () => {
  const digest = `sha256:${'a'.repeat(64)}`;
  const [, task] = only(taskWith(`210987654321.dkr.ecr.us-west-2.amazonaws.com/reefguide@${digest}`), 'AWS::ECS::TaskDefinition');
  assert.match(flatten(task.Properties.ContainerDefinitions[0].Image), new RegExp(`/reefguide@${digest}$`));
});

test('another registry’s image is used as given, with no ECR rights', () => {
  const template = taskWith('ghcr.io/example/reefguide:1.0.0');
  const [, task] = only(template, 'AWS::ECS::TaskDefinition');
  assert.equal(task.Properties.ContainerDefinitions[0].Image, 'ghcr.io/example/reefguide:1.0.0');
  template.resourceCountIs('AWS::IAM::Policy', 0);
});

test('`build` builds the Dockerfile of the build context as an asset', () => {
  const context = mkdtempSync(path.join(tmpdir(), 'reefguide-image-'));
  writeFileSync(path.join(context, 'Dockerfile'), 'FROM scratch\n');
  const [, task] = only(taskWith('build', context), 'AWS::ECS::TaskDefinition');
  assert.match(flatten(task.Properties.ContainerDefinitions[0].Image), /cdk-hnb659fds-container-assets-123456789012-ap-southeast-2:[0-9a-f]{64}$/);
  assert.throws(() => taskWith('build', path.join(context, 'missing')), /Cannot find/);
});

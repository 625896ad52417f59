/** What the tests share: a small valid configuration, synthesis, and readers of the template. */

import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { parseConfig } from '../lib/config';
import { ReefGuideStack } from '../lib/stack';

/** A JSON value, as a configuration file holds. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

export const JWT_SECRET_ARN = 'arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:reefguide/jwt-AbCdEf';
export const DATABASE_SECRET_ARN = 'arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:shared/db-ZyXwVu';

/** A small valid configuration with two compute targets; `change` edits a copy of it. */
export function rawConfig(change: (config: { [key: string]: any }) => void = () => {}): { [key: string]: any } {
  const config: { [key: string]: any } = {
    env: { account: '123456789012', region: 'ap-southeast-2' },
    image: 'ghcr.io/example/reefguide:1.0.0',
    api: { workerUsername: 'worker@example.org', adminUsername: 'admin@example.org' },
    secrets: { jwtPrivateKeySecretArn: JWT_SECRET_ARN, jwtPrivateKeyField: 'JWT_PRIVATE_KEY' },
    workers: {
      targets: {
        default: { entryPoint: ['reefguide'], command: ['worker'] },
        heavy: { image: 'ghcr.io/example/model:2', cpu: 4096, memoryMiB: 16384, scaling: { maxWorkers: 3 } },
      },
    },
    logRetentionDays: 14,
  };
  change(config);
  return config;
}

/** The stack synthesized from `raw`. */
export function synth(raw: { [key: string]: any } = rawConfig()): { stack: ReefGuideStack; template: Template } {
  const config = parseConfig(raw);
  const app = new App();
  const stack = new ReefGuideStack(app, 'Test', { config, env: config.env });
  return { stack, template: Template.fromStack(stack) };
}

/** A CloudFormation resource of the template. */
export interface Resource {
  readonly Type: string;
  readonly Properties: { [key: string]: any };
  readonly DependsOn?: string[];
}

/** The template's resources of `type`, by logical id. */
export function resources(template: Template, type: string): Record<string, Resource> {
  return template.findResources(type) as Record<string, Resource>;
}

/** The one resource of `type` satisfying `test`, with its logical id. */
export function only(template: Template, type: string, test: (r: Resource) => boolean = () => true): [string, Resource] {
  const found = Object.entries(resources(template, type)).filter(([, r]) => test(r));
  if (found.length !== 1) {
    throw new Error(`expected one ${type}, found ${found.length}`);
  }
  return found[0];
}

/** The container definition named `name` of a task definition. */
export function container(taskDefinition: Resource, name: string): { [key: string]: any } {
  const found = (taskDefinition.Properties.ContainerDefinitions as { Name: string }[]).find((c) => c.Name === name);
  if (!found) {
    throw new Error(`no container ${name}`);
  }
  return found;
}

/** The API's task definition and its logical id. */
export function apiTask(template: Template): [string, Resource] {
  return only(template, 'AWS::ECS::TaskDefinition', (r) =>
    r.Properties.ContainerDefinitions.some((c: { Name: string }) => c.Name === 'api'),
  );
}

/** The worker task definitions by logical id. */
export function workerTasks(template: Template): Record<string, Resource> {
  return Object.fromEntries(
    Object.entries(resources(template, 'AWS::ECS::TaskDefinition')).filter(([, r]) =>
      r.Properties.ContainerDefinitions.some((c: { Name: string }) => c.Name === 'worker'),
    ),
  );
}

/** The plain environment of a container, by name. */
export function environmentOf(containerDefinition: { [key: string]: any }): Record<string, any> {
  return Object.fromEntries(
    (containerDefinition.Environment ?? []).map((e: { Name: string; Value: unknown }) => [e.Name, e.Value]),
  );
}

/** The secrets of a container, by name. */
export function secretsOf(containerDefinition: { [key: string]: any }): Record<string, any> {
  return Object.fromEntries(
    (containerDefinition.Secrets ?? []).map((e: { Name: string; ValueFrom: unknown }) => [e.Name, e.ValueFrom]),
  );
}

/** The statements of every policy attached to the role `roleId`. */
export function statementsOf(template: Template, roleId: string): { [key: string]: any }[] {
  return Object.values(resources(template, 'AWS::IAM::Policy'))
    .filter((p) => (p.Properties.Roles as { Ref?: string }[]).some((r) => r.Ref === roleId))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
}

/** The statements of `statements` allowing `action`. */
export function allowing(statements: { [key: string]: any }[], action: string): { [key: string]: any }[] {
  return statements.filter((s) => s.Effect === 'Allow' && [s.Action].flat().includes(action));
}

/** A string of a template value in which every `{Ref: X}` is `<X>` and `{Fn::GetAtt: [X, A]}` is
 * `<X.A>` (joins joined, substitutions left as written). */
export function flatten(value: unknown): string {
  if (typeof value === 'string') {
    return value;
  }
  if (Array.isArray(value)) {
    return value.map(flatten).join(',');
  }
  if (value && typeof value === 'object') {
    const o = value as { [key: string]: any };
    if ('Ref' in o) {
      return `<${o.Ref}>`;
    }
    if ('Fn::GetAtt' in o) {
      return `<${o['Fn::GetAtt'][0]}.${o['Fn::GetAtt'][1]}>`;
    }
    if ('Fn::Sub' in o) {
      return typeof o['Fn::Sub'] === 'string' ? o['Fn::Sub'] : flatten(o['Fn::Sub'][0]);
    }
    if ('Fn::Join' in o) {
      return (o['Fn::Join'][1] as unknown[]).map(flatten).join(o['Fn::Join'][0]);
    }
  }
  return JSON.stringify(value);
}

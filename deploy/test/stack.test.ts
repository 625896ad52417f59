/** Assertions on the synthesized template: what runs, how it is reached, and who may do what. */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import { SECRET_SETTINGS, envName } from '../lib/environment';
import {
  DATABASE_SECRET_ARN,
  allowing,
  apiTask,
  container,
  environmentOf,
  flatten,
  only,
  rawConfig,
  resources,
  secretsOf,
  statementsOf,
  synth,
  workerTasks,
} from './support';

const { template } = synth();
const [apiTaskId, apiTaskDefinition] = apiTask(template);
const api = container(apiTaskDefinition, 'api');
const apiEnvironment = environmentOf(api);
const apiTaskRole: string = apiTaskDefinition.Properties.TaskRoleArn['Fn::GetAtt'][0];
const serverStatements = statementsOf(template, apiTaskRole);

describe('load balancer', () => {
  test('the listener forwards to a target group checking /api/health on the server port', () => {
    const [groupId, group] = only(template, 'AWS::ElasticLoadBalancingV2::TargetGroup');
    assert.equal(group.Properties.HealthCheckPath, '/api/health');
    assert.equal(group.Properties.Matcher.HttpCode, '200');
    assert.equal(group.Properties.Port, 5000);
    assert.equal(group.Properties.TargetType, 'ip');
    const [, listener] = only(template, 'AWS::ElasticLoadBalancingV2::Listener');
    assert.deepEqual(listener.Properties.DefaultActions, [{ Type: 'forward', TargetGroupArn: { Ref: groupId } }]);
    const [, service] = only(template, 'AWS::ECS::Service', (s) => s.Properties.TaskDefinition.Ref === apiTaskId);
    assert.deepEqual(
      service.Properties.LoadBalancers.map((l: { TargetGroupArn: unknown }) => l.TargetGroupArn),
      [{ Ref: groupId }],
    );
  });

  test('with a certificate: HTTPS, and port 80 redirects', () => {
    const certificateArn = 'arn:aws:acm:ap-southeast-2:123456789012:certificate/abc';
    const { template: https } = synth(rawConfig((c) => (c.api.certificateArn = certificateArn)));
    https.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 443,
      Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: certificateArn }],
    });
    https.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      DefaultActions: [Match.objectLike({ Type: 'redirect', RedirectConfig: Match.objectLike({ Port: '443' }) })],
    });
  });
});

describe('API service', () => {
  test('runs at least two tasks and rolls without going below them', () => {
    const [, service] = only(template, 'AWS::ECS::Service', (s) => s.Properties.TaskDefinition.Ref === apiTaskId);
    assert.ok(service.Properties.DesiredCount >= 2, `desired ${service.Properties.DesiredCount}`);
    assert.equal(service.Properties.LaunchType, 'FARGATE');
    const deployment = service.Properties.DeploymentConfiguration;
    assert.equal(deployment.MinimumHealthyPercent, 100);
    assert.equal(deployment.MaximumPercent, 200);
    assert.deepEqual(deployment.DeploymentCircuitBreaker, { Enable: true, Rollback: true });
    assert.equal(service.Properties.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp, 'DISABLED');
  });

  test('the desired count follows the configuration and one task is refused', () => {
    const { template: four } = synth(rawConfig((c) => (c.api.desiredCount = 4)));
    const [id] = apiTask(four);
    four.hasResourceProperties('AWS::ECS::Service', { TaskDefinition: { Ref: id }, DesiredCount: 4 });
    assert.throws(() => synth(rawConfig((c) => (c.api.desiredCount = 1))), /api\.desiredCount: must be from 2/);
  });

  test('listens on every interface, logs JSON, stores results in the bucket, runs workers on ECS', () => {
    const [bucketId] = only(template, 'AWS::S3::Bucket');
    const [clusterId] = only(template, 'AWS::ECS::Cluster');
    assert.equal(apiEnvironment.REEFGUIDE_HOST, '0.0.0.0');
    assert.equal(apiEnvironment.PORT, '5000');
    assert.deepEqual(api.PortMappings, [{ ContainerPort: 5000, Protocol: 'tcp' }]);
    assert.equal(apiEnvironment.REEFGUIDE_LOG_FORMAT, 'json');
    assert.equal(apiEnvironment.REEFGUIDE_STORAGE, 's3');
    assert.deepEqual(apiEnvironment.REEFGUIDE_S3_BUCKET, { Ref: bucketId });
    assert.equal(apiEnvironment.REEFGUIDE_S3_PREFIX, 'results');
    assert.equal(apiEnvironment.REEFGUIDE_COMPUTE, 'ecs');
    assert.equal(apiEnvironment.REEFGUIDE_CAPACITY_MANAGER, 'true');
    assert.deepEqual(apiEnvironment.REEFGUIDE_ECS_CLUSTER, { Ref: clusterId });
    assert.equal(apiEnvironment.ADMIN_USERNAME, 'admin@example.org');
    assert.equal(apiEnvironment.WORKER_USERNAME, 'worker@example.org');
    assert.match(flatten(apiEnvironment.API_DOMAIN), /^http:\/\/<EntranceAlb\w+\.DNSName>$/);
  });

  test('a configured domain is the issuer and the workers’ API URL', () => {
    const { template: named } = synth(rawConfig((c) => (c.api.domain = 'https://reef.example.org')));
    assert.equal(environmentOf(container(apiTask(named)[1], 'api')).API_DOMAIN, 'https://reef.example.org');
    for (const task of Object.values(workerTasks(named))) {
      assert.equal(environmentOf(container(task, 'worker')).REEFGUIDE_API_URL, 'https://reef.example.org');
    }
  });
});

describe('workers', () => {
  const tasks = workerTasks(template);

  test('one task definition per compute target, each named in ecs_targets', () => {
    assert.equal(Object.keys(tasks).length, 2);
    const targets = flatten(apiEnvironment.REEFGUIDE_ECS_TARGETS);
    for (const id of Object.keys(tasks)) {
      assert.ok(targets.includes(`"task_definition"="<${id}>"`), `${id} not in ${targets}`);
    }
    assert.match(targets, /^\{"default"=\{"task_definition"="<WorkersTargetdefault\w+>","subnets"=\["<[^>]+>","<[^>]+>"\],"security_groups"=\["<WorkersSecurityGroup\w+\.GroupId>"\],"assign_public_ip"=false\},"heavy"=/);
    const heavy = Object.values(tasks).find((t) => container(t, 'worker').Image === 'ghcr.io/example/model:2');
    assert.ok(heavy, 'the heavy target runs its own image');
    assert.equal(heavy.Properties.Cpu, '4096');
    assert.equal(heavy.Properties.Memory, '16384');
  });

  test('capacity_targets carries each target’s policy', () => {
    assert.equal(
      apiEnvironment.REEFGUIDE_CAPACITY_TARGETS,
      '{"default"={"sensitivity"=1.5,"factor"=2,"min_workers"=0,"max_workers"=10,"cooldown_seconds"=60,"max_launch_per_cycle"=5},' +
        '"heavy"={"sensitivity"=1.5,"factor"=2,"min_workers"=0,"max_workers"=3,"cooldown_seconds"=60,"max_launch_per_cycle"=5}}',
    );
  });

  test('the worker service exists with no tasks and is the one the server scales', () => {
    const [serviceId, service] = only(template, 'AWS::ECS::Service', (s) => s.Properties.TaskDefinition.Ref !== apiTaskId);
    assert.equal(service.Properties.DesiredCount, 0);
    assert.ok(Object.keys(tasks).includes(service.Properties.TaskDefinition.Ref));
    assert.deepEqual(apiEnvironment.REEFGUIDE_ECS_SERVICE, { 'Fn::GetAtt': [serviceId, 'Name'] });
  });

  test('a target’s entry point and command override the image’s', () => {
    const [defaultTask] = Object.entries(tasks).filter(([id]) => id.startsWith('WorkersTargetdefault'));
    const worker = container(defaultTask[1], 'worker');
    assert.deepEqual([worker.EntryPoint, worker.Command], [['reefguide'], ['worker']]);
    const heavy = Object.entries(tasks).find(([id]) => id.startsWith('WorkersTargetheavy'));
    assert.ok(heavy);
    assert.deepEqual([container(heavy[1], 'worker').EntryPoint, container(heavy[1], 'worker').Command], [undefined, undefined]);
  });

  test('workers get the WORKER account, its password as a secret', () => {
    for (const task of Object.values(tasks)) {
      const worker = container(task, 'worker');
      assert.equal(environmentOf(worker).WORKER_USERNAME, 'worker@example.org');
      assert.deepEqual(Object.keys(secretsOf(worker)), ['WORKER_PASSWORD']);
      assert.ok(!('WORKER_PASSWORD' in environmentOf(worker)));
    }
  });
});

describe('database', () => {
  test('a new RDS Postgres instance, private and encrypted, whose URL is a secret', () => {
    const [instanceId, instance] = only(template, 'AWS::RDS::DBInstance');
    assert.equal(instance.Properties.Engine, 'postgres');
    assert.equal(instance.Properties.StorageEncrypted, true);
    assert.equal(instance.Properties.PubliclyAccessible, false);
    const url = secretsOf(api).DATABASE_URL;
    const [urlId, urlSecret] = only(template, 'AWS::SecretsManager::Secret', (s) => s.Properties.SecretString !== undefined);
    assert.deepEqual(url, { Ref: urlId });
    assert.match(
      flatten(urlSecret.Properties.SecretString),
      new RegExp(
        `^postgres://\\{\\{resolve:secretsmanager:<\\w+>:SecretString:username::\\}\\}:` +
          `\\{\\{resolve:secretsmanager:<\\w+>:SecretString:password::\\}\\}@<${instanceId}\\.Endpoint\\.Address>:<${instanceId}\\.Endpoint\\.Port>/reefguide$`,
      ),
    );
  });

  test('only the API reaches the database', () => {
    const [, instance] = only(template, 'AWS::RDS::DBInstance');
    const [groupId] = instance.Properties.VPCSecurityGroups.map((g: { 'Fn::GetAtt': string[] }) => g['Fn::GetAtt'][0]);
    const ingress = Object.values(resources(template, 'AWS::EC2::SecurityGroupIngress')).filter(
      (r) => r.Properties.GroupId['Fn::GetAtt'][0] === groupId,
    );
    assert.equal(ingress.length, 1);
    assert.match(flatten(ingress[0].Properties.SourceSecurityGroupId), /^<ApiServiceSecurityGroup\w+\.GroupId>$/);
    assert.equal(resources(template, 'AWS::EC2::SecurityGroup')[groupId].Properties.SecurityGroupIngress, undefined);
  });

  test('an existing database secret: no instance, its URL from that secret', () => {
    const { template: shared } = synth(
      rawConfig((c) => (c.database = { existingUrlSecretArn: DATABASE_SECRET_ARN, existingUrlSecretField: 'url' })),
    );
    shared.resourceCountIs('AWS::RDS::DBInstance', 0);
    shared.resourceCountIs('AWS::RDS::DBSubnetGroup', 0);
    const sharedApi = container(apiTask(shared)[1], 'api');
    assert.equal(secretsOf(sharedApi).DATABASE_URL, `${DATABASE_SECRET_ARN}:url::`);
  });
});

describe('results bucket', () => {
  test('blocks public access, is encrypted and refuses plain HTTP', () => {
    const [bucketId, bucket] = only(template, 'AWS::S3::Bucket');
    assert.deepEqual(bucket.Properties.PublicAccessBlockConfiguration, {
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    assert.equal(
      bucket.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm,
      'AES256',
    );
    const [, policy] = only(template, 'AWS::S3::BucketPolicy');
    assert.deepEqual(policy.Properties.Bucket, { Ref: bucketId });
    const denial = policy.Properties.PolicyDocument.Statement.find(
      (s: { Effect: string; Condition?: unknown }) =>
        s.Effect === 'Deny' && JSON.stringify(s.Condition) === '{"Bool":{"aws:SecureTransport":"false"}}',
    );
    assert.ok(denial, 'no TLS-only statement');
    assert.equal(denial.Action, 's3:*');
  });
});

describe('server permissions', () => {
  test('S3 rights stop at the results prefix', () => {
    const [bucketId] = only(template, 'AWS::S3::Bucket');
    const s3 = serverStatements.filter((s) => [s.Action].flat().some((a: string) => a.startsWith('s3:')));
    assert.deepEqual(
      s3.map((s) => [s.Action, flatten(s.Resource), s.Condition && JSON.stringify(s.Condition)]),
      [
        ['s3:ListBucket', `<${bucketId}.Arn>`, '{"StringLike":{"s3:prefix":["results/*"]}}'],
        [['s3:GetObject', 's3:PutObject'], `<${bucketId}.Arn>/results/*`, undefined],
      ],
    );
  });

  test('RunTask of the worker task definitions only, in the cluster', () => {
    const [clusterId] = only(template, 'AWS::ECS::Cluster');
    const [runTask] = allowing(serverStatements, 'ecs:RunTask');
    assert.deepEqual(
      [runTask.Resource].flat().map((r: { Ref: string }) => r.Ref).sort(),
      Object.keys(workerTasks(template)).sort(),
    );
    assert.deepEqual(runTask.Condition, { ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [clusterId, 'Arn'] } } });
  });

  test('DescribeTasks only of tasks in the cluster', () => {
    const [clusterId] = only(template, 'AWS::ECS::Cluster');
    const [describe] = allowing(serverStatements, 'ecs:DescribeTasks');
    assert.deepEqual(describe.Condition, { ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [clusterId, 'Arn'] } } });
    assert.match(flatten(describe.Resource), new RegExp(`:task/<${clusterId}>/\\*$`));
  });

  test('scaling and redeploying only the worker service', () => {
    const [workerServiceId] = only(template, 'AWS::ECS::Service', (s) => s.Properties.TaskDefinition.Ref !== apiTaskId);
    for (const action of ['ecs:UpdateService', 'ecs:DescribeServices']) {
      const statements = allowing(serverStatements, action);
      assert.equal(statements.length, 1, action);
      assert.deepEqual(statements[0].Resource, { Ref: workerServiceId });
    }
  });

  test('PassRole only for the worker roles, only to ECS tasks', () => {
    const [passRole] = allowing(serverStatements, 'iam:PassRole');
    const expected = Object.values(workerTasks(template)).flatMap((t) => [
      t.Properties.TaskRoleArn['Fn::GetAtt'][0],
      t.Properties.ExecutionRoleArn['Fn::GetAtt'][0],
    ]);
    assert.deepEqual(
      passRole.Resource.map((r: { 'Fn::GetAtt': string[] }) => r['Fn::GetAtt'][0]).sort(),
      expected.sort(),
    );
    assert.deepEqual(passRole.Condition, { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } });
  });

  test('no wildcard resources and no MWAA without an environment', () => {
    for (const statement of serverStatements) {
      assert.notEqual(statement.Resource, '*', JSON.stringify(statement.Action));
    }
    assert.deepEqual(allowing(serverStatements, 'airflow:InvokeRestApi'), []);
    assert.ok(!('REEFGUIDE_AIRFLOW' in apiEnvironment));
  });

  test('InvokeRestApi only as the configured Airflow role of the configured environment', () => {
    const { template: withMwaa } = synth(rawConfig((c) => (c.mwaa = { environmentName: 'labcas-prod', airflowRole: 'Op' })));
    const [, task] = apiTask(withMwaa);
    const statements = statementsOf(withMwaa, task.Properties.TaskRoleArn['Fn::GetAtt'][0]);
    const invoke = allowing(statements, 'airflow:InvokeRestApi');
    assert.equal(invoke.length, 1);
    assert.equal(flatten(invoke[0].Resource), 'arn:<AWS::Partition>:airflow:ap-southeast-2:123456789012:role/labcas-prod/Op');
    assert.equal(
      environmentOf(container(task, 'api')).REEFGUIDE_AIRFLOW,
      '{"mwaa_environment"="labcas-prod","mwaa_region"="ap-southeast-2"}',
    );
  });
});

describe('secrets', () => {
  test('the server’s secrets come from Secrets Manager, never plain environment', () => {
    const secrets = secretsOf(api);
    const secretNames = SECRET_SETTINGS.map(envName);
    assert.deepEqual(Object.keys(secrets).sort(), [...secretNames].sort());
    for (const name of secretNames) {
      assert.ok(!(name in apiEnvironment), `${name} in plain environment`);
      assert.ok(!(`REEFGUIDE_${name}` in apiEnvironment), `REEFGUIDE_${name} in plain environment`);
    }
    assert.equal(secrets.JWT_PRIVATE_KEY, 'arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:reefguide/jwt-AbCdEf:JWT_PRIVATE_KEY::');
  });

  test('the execution role may read exactly these secrets', () => {
    const executionRole: string = apiTaskDefinition.Properties.ExecutionRoleArn['Fn::GetAtt'][0];
    const reads = allowing(statementsOf(template, executionRole), 'secretsmanager:GetSecretValue');
    assert.deepEqual(
      reads.map((s) => flatten(s.Resource)).sort(),
      Object.values(secretsOf(api))
        .map((v) => flatten(v).replace(/:JWT_PRIVATE_KEY::$/, ''))
        .sort(),
    );
  });

  test('without an admin account no admin password exists', () => {
    const { template: noAdmin } = synth(rawConfig((c) => delete c.api.adminUsername));
    const noAdminApi = container(apiTask(noAdmin)[1], 'api');
    assert.ok(!('ADMIN_PASSWORD' in secretsOf(noAdminApi)));
    assert.ok(!('ADMIN_USERNAME' in environmentOf(noAdminApi)));
  });
});

describe('logs', () => {
  test('every container logs to a log group of the stack with the configured retention', () => {
    const groups = resources(template, 'AWS::Logs::LogGroup');
    assert.equal(Object.keys(groups).length, 3);
    for (const group of Object.values(groups)) {
      assert.equal(group.Properties.RetentionInDays, 14);
    }
    for (const task of Object.values(resources(template, 'AWS::ECS::TaskDefinition'))) {
      for (const c of task.Properties.ContainerDefinitions) {
        assert.equal(c.LogConfiguration.LogDriver, 'awslogs');
        assert.ok(c.LogConfiguration.Options['awslogs-group'].Ref in groups);
      }
    }
  });
});

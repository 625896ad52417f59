/**
 * The workers: one Fargate task definition per compute target, which the server's capacity
 * manager starts with RunTask as the queue grows (`ecs_targets`), and the worker service that
 * `POST /api/admin/scale` and `/redeploy` act on (`ecs_service`, created with no tasks).
 *
 * Workers sign in with the WORKER service account and reach the API through the load balancer;
 * they need no inbound traffic. With `directS3Access` a target's task role may also read and
 * write the results prefix (ReefGuide R1's workers upload to S3 themselves).
 */

import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { WorkersConfig } from './config';
import { type CapacitySetting, type EcsTargetSetting, WORKER_ENV, workerEnvironment } from './environment';
import type { Images } from './images';
import { retainedLogGroup } from './logs';
import type { ResultsBucket } from './storage';

/** What the workers need. */
export interface WorkersProps {
  readonly config: WorkersConfig;
  readonly cluster: ecs.ICluster;
  readonly subnets: ec2.SubnetSelection;
  readonly images: Images;
  /** The API's base URL as workers reach it. */
  readonly apiUrl: string;
  readonly username: string;
  readonly password: secretsmanager.ISecret;
  readonly results: ResultsBucket;
  readonly logRetentionDays: number;
}

/** The worker task definitions and the worker service. */
export class Workers extends Construct {
  /** Task definitions by compute target. */
  readonly taskDefinitions: Readonly<Record<string, ecs.FargateTaskDefinition>>;
  readonly service: ecs.FargateService;
  readonly securityGroup: ec2.SecurityGroup;
  private readonly subnetIds: readonly string[];
  private readonly config: WorkersConfig;

  constructor(scope: Construct, id: string, props: WorkersProps) {
    super(scope, id);
    this.config = props.config;
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.cluster.vpc,
      description: 'reefguide workers (no inbound traffic)',
      allowAllOutbound: true,
    });
    const definitions: Record<string, ecs.FargateTaskDefinition> = {};
    for (const [name, target] of Object.entries(props.config.targets)) {
      const definition = new ecs.FargateTaskDefinition(this, `Target-${name}`, {
        cpu: target.cpu,
        memoryLimitMiB: target.memoryMiB,
      });
      definition.addContainer('worker', {
        image: props.images.image(target.image),
        entryPoint: target.entryPoint && [...target.entryPoint],
        command: target.command && [...target.command],
        environment: workerEnvironment({
          apiUrl: props.apiUrl,
          username: props.username,
          idleTimeoutSeconds: target.idleTimeoutSeconds,
          extra: target.environment,
        }),
        secrets: { [WORKER_ENV.password]: ecs.Secret.fromSecretsManager(props.password) },
        logging: ecs.LogDrivers.awsLogs({
          streamPrefix: `worker-${name}`,
          logGroup: retainedLogGroup(this, `Logs-${name}`, props.logRetentionDays),
        }),
      });
      if (target.directS3Access) {
        props.results.grantResults(definition.taskRole);
      }
      definitions[name] = definition;
    }
    this.taskDefinitions = definitions;
    this.subnetIds = props.cluster.vpc.selectSubnets(props.subnets).subnetIds;
    this.service = new ecs.FargateService(this, 'Service', {
      cluster: props.cluster,
      taskDefinition: definitions[props.config.serviceTarget],
      desiredCount: 0,
      // As the server's forced redeployments ask (contract §8).
      minHealthyPercent: 50,
      maxHealthyPercent: 200,
      circuitBreaker: { enable: true, rollback: false },
      securityGroups: [this.securityGroup],
      vpcSubnets: props.subnets,
      assignPublicIp: false,
    });
  }

  /** `ecs_targets`: how the capacity manager runs each target's tasks. */
  ecsTargets(): Record<string, EcsTargetSetting> {
    return Object.fromEntries(
      Object.entries(this.taskDefinitions).map(([name, definition]) => [
        name,
        {
          taskDefinitionArn: definition.taskDefinitionArn,
          subnetIds: this.subnetIds,
          securityGroupIds: [this.securityGroup.securityGroupId],
        },
      ]),
    );
  }

  /** `capacity_targets`: each target's scaling policy. */
  capacityTargets(): Record<string, CapacitySetting> {
    return Object.fromEntries(Object.entries(this.config.targets).map(([name, target]) => [name, target.scaling]));
  }

  /** The roles a RunTask of the worker task definitions passes to ECS. */
  passedRoles(): iam.IRole[] {
    return Object.values(this.taskDefinitions).flatMap((definition) => [
      definition.taskRole,
      definition.obtainExecutionRole(),
    ]);
  }
}

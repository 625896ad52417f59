/**
 * The API: a Fargate service of `reefguide serve` behind the load balancer, at least two tasks,
 * replaced by rolling deployments that never go below the desired count (a new task must pass
 * the `/api/health` check before an old one stops; a failing deployment rolls back).
 */

import { Duration } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { Construct } from 'constructs';
import type { ApiConfig } from './config';
import { retainedLogGroup } from './logs';

/** The path the load balancer checks. */
export const HEALTH_CHECK_PATH = '/api/health';

/** What the API service needs. */
export interface ApiServiceProps {
  readonly config: ApiConfig;
  readonly cluster: ecs.ICluster;
  readonly subnets: ec2.SubnetSelection;
  readonly image: ecs.ContainerImage;
  readonly listener: elbv2.ApplicationListener;
  /** Plain settings. */
  readonly environment: Record<string, string>;
  /** Settings from Secrets Manager, by variable name. */
  readonly secrets: Record<string, ecs.Secret>;
  readonly logRetentionDays: number;
}

/** The API's task definition, service and target group. */
export class ApiService extends Construct {
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly service: ecs.FargateService;
  readonly targetGroup: elbv2.ApplicationTargetGroup;

  constructor(scope: Construct, id: string, props: ApiServiceProps) {
    super(scope, id);
    const { config } = props;
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: config.cpu,
      memoryLimitMiB: config.memoryMiB,
    });
    this.taskDefinition.addContainer('api', {
      image: props.image,
      portMappings: [{ containerPort: config.port, protocol: ecs.Protocol.TCP }],
      environment: props.environment,
      secrets: props.secrets,
      logging: ecs.LogDrivers.awsLogs({
        streamPrefix: 'api',
        logGroup: retainedLogGroup(this, 'Logs', props.logRetentionDays),
      }),
      // Time to finish the requests in flight (long-polling claims wait up to 30 s).
      stopTimeout: Duration.seconds(60),
    });
    this.service = new ecs.FargateService(this, 'Service', {
      cluster: props.cluster,
      taskDefinition: this.taskDefinition,
      desiredCount: config.desiredCount,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { rollback: true },
      healthCheckGracePeriod: Duration.seconds(60),
      vpcSubnets: props.subnets,
      assignPublicIp: false,
    });
    this.targetGroup = props.listener.addTargets('Api', {
      port: config.port,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targets: [this.service.loadBalancerTarget({ containerName: 'api', containerPort: config.port })],
      healthCheck: {
        path: HEALTH_CHECK_PATH,
        healthyHttpCodes: '200',
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 3,
      },
      // Longer than the longest claim wait, so that draining never cuts a claim.
      deregistrationDelay: Duration.seconds(40),
    });
    if (config.maxCount > config.desiredCount) {
      this.service
        .autoScaleTaskCount({ minCapacity: config.desiredCount, maxCapacity: config.maxCount })
        .scaleOnCpuUtilization('Cpu', { targetUtilizationPercent: 60 });
    }
  }

  /** The tasks' security group (the database lets it in). */
  get connections(): ec2.Connections {
    return this.service.connections;
  }
}

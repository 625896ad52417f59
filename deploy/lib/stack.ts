/**
 * The reefguide stack: network, load balancer, database, results bucket, secrets, workers and
 * the API service, wired to the settings the server reads. Nothing here looks anything up in an
 * AWS account, so the stack synthesizes anywhere (environment-agnostic unless `env` is set).
 */

import * as path from 'node:path';
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { Construct } from 'constructs';
import type { DeployConfig } from './config';
import { Database } from './database';
import { envName, type SecretSetting, serverEnvironment } from './environment';
import { Images } from './images';
import { LoadBalancer } from './load-balancer';
import { Network } from './network';
import { grantCapacityManager, grantMwaa } from './permissions';
import { ServerSecrets } from './secrets';
import { ApiService } from './service';
import { ResultsBucket } from './storage';
import { Workers } from './workers';

/** The stack's inputs. */
export interface ReefGuideStackProps extends StackProps {
  readonly config: DeployConfig;
  /** The directory of the `Dockerfile` for images `build` (default: the repository's root). */
  readonly buildContext?: string;
}

/** Everything reefguide needs in one stack. */
export class ReefGuideStack extends Stack {
  readonly api: ApiService;
  readonly workers: Workers;
  readonly database: Database;
  readonly results: ResultsBucket;

  constructor(scope: Construct, id: string, props: ReefGuideStackProps) {
    super(scope, id, props);
    const { config } = props;
    const images = new Images(this, 'Images', props.buildContext ?? path.resolve(__dirname, '..', '..'));
    const network = new Network(this, 'Network', config.network);
    const entrance = new LoadBalancer(this, 'Entrance', {
      vpc: network.vpc,
      certificateArn: config.api.certificateArn,
    });
    const apiDomain = config.api.domain ?? entrance.url;
    this.database = new Database(this, 'Database', {
      config: config.database,
      vpc: network.vpc,
      subnets: network.privateSubnets,
    });
    this.results = new ResultsBucket(this, 'Results', config.storage);
    const secrets = new ServerSecrets(this, 'Secrets', {
      config: config.secrets,
      adminAccount: config.api.adminUsername !== undefined,
    });
    this.workers = new Workers(this, 'Workers', {
      config: config.workers,
      cluster: network.cluster,
      subnets: network.privateSubnets,
      images,
      apiUrl: apiDomain,
      username: config.api.workerUsername,
      password: secrets.workerPassword,
      results: this.results,
      logRetentionDays: config.logRetentionDays,
    });

    const environment = serverEnvironment({
      port: config.api.port,
      apiDomain,
      logLevel: config.api.logLevel,
      corsAllowedOrigins: config.api.corsAllowedOrigins,
      requiredRole: config.api.requiredRole,
      adminUsername: config.api.adminUsername,
      workerUsername: config.api.workerUsername,
      region: this.region,
      bucketName: this.results.bucket.bucketName,
      resultsPrefix: this.results.prefix,
      clusterName: network.cluster.clusterName,
      workerServiceName: this.workers.service.serviceName,
      capacityIntervalMs: config.workers.capacityIntervalMs,
      ecsTargets: this.workers.ecsTargets(),
      capacityTargets: this.workers.capacityTargets(),
      mwaa: config.mwaa && {
        environmentName: config.mwaa.environmentName,
        region: config.mwaa.region ?? this.region,
      },
      extra: config.api.extraEnvironment,
    });
    const secretSettings: Partial<Record<SecretSetting, ecs.Secret>> = {
      database_url: this.database.urlSecret,
      jwt_private_key: secrets.jwtPrivateKey,
      admin_password: secrets.adminPassword && ecs.Secret.fromSecretsManager(secrets.adminPassword),
      worker_password: ecs.Secret.fromSecretsManager(secrets.workerPassword),
      metrics_token: ecs.Secret.fromSecretsManager(secrets.metricsToken),
    };
    this.api = new ApiService(this, 'Api', {
      config: config.api,
      cluster: network.cluster,
      subnets: network.privateSubnets,
      image: images.image(config.image),
      listener: entrance.listener,
      environment,
      secrets: Object.fromEntries(
        Object.entries(secretSettings)
          .filter((entry): entry is [string, ecs.Secret] => entry[1] !== undefined)
          .map(([setting, secret]) => [envName(setting), secret]),
      ),
      logRetentionDays: config.logRetentionDays,
    });
    this.database.allowFrom(this.api.connections);

    const taskRole = this.api.taskDefinition.taskRole;
    this.results.grantResults(taskRole);
    grantCapacityManager(taskRole, network.cluster, this.workers);
    if (config.mwaa) {
      grantMwaa(taskRole, config.mwaa);
    }

    new CfnOutput(this, 'ApiUrl', { value: apiDomain, description: 'the API (api_domain)' });
    new CfnOutput(this, 'LoadBalancerDns', { value: entrance.alb.loadBalancerDnsName });
    new CfnOutput(this, 'ResultsBucketName', { value: this.results.bucket.bucketName });
    new CfnOutput(this, 'ApiSecurityGroupId', {
      value: this.api.connections.securityGroups[0].securityGroupId,
      description: 'let this group reach an existing database',
    });
    new CfnOutput(this, 'WorkerPasswordSecretArn', { value: secrets.workerPassword.secretArn });
    new CfnOutput(this, 'MetricsTokenSecretArn', { value: secrets.metricsToken.secretArn });
    if (secrets.adminPassword) {
      new CfnOutput(this, 'AdminPasswordSecretArn', { value: secrets.adminPassword.secretArn });
    }
  }
}

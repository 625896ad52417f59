/**
 * The server's secrets other than the database URL: the JWT signing key (provided by the
 * operator, e.g. from `reefguide keys generate`), and generated passwords of the service
 * accounts and the metrics token. Each reaches its container as an ECS secret.
 */

import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { SecretsConfig } from './config';

/** What the secrets construct needs. */
export interface ServerSecretsProps {
  readonly config: SecretsConfig;
  /** Whether the ADMIN service account is configured (its password is then generated). */
  readonly adminAccount: boolean;
}

/** The JWT key and the generated credentials. */
export class ServerSecrets extends Construct {
  readonly jwtPrivateKey: ecs.Secret;
  readonly adminPassword?: secretsmanager.Secret;
  readonly workerPassword: secretsmanager.Secret;
  readonly metricsToken: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: ServerSecretsProps) {
    super(scope, id);
    const jwt = secretsmanager.Secret.fromSecretCompleteArn(this, 'JwtKey', props.config.jwtPrivateKeySecretArn);
    this.jwtPrivateKey = ecs.Secret.fromSecretsManager(jwt, props.config.jwtPrivateKeyField);
    if (props.adminAccount) {
      this.adminPassword = generated(this, 'AdminPassword', 'password of the reefguide ADMIN service account');
    }
    this.workerPassword = generated(this, 'WorkerPassword', 'password of the reefguide WORKER service account');
    this.metricsToken = generated(this, 'MetricsToken', 'bearer token of the reefguide /metrics route');
  }
}

/** A new secret: 40 letters and digits (no punctuation, which some parsers treat specially). */
function generated(scope: Construct, id: string, description: string): secretsmanager.Secret {
  return new secretsmanager.Secret(scope, id, {
    description,
    generateSecretString: { passwordLength: 40, excludePunctuation: true, includeSpace: false },
  });
}

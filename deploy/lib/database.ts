/**
 * The database the server reaches through `DATABASE_URL`: a new RDS Postgres instance, or an
 * existing database named by a secret holding its URL. Either way the URL lives only in Secrets
 * Manager and reaches the container as an ECS secret.
 *
 * For a new instance the URL is composed by CloudFormation from the instance's generated
 * credentials (dynamic references, resolved at deploy time, never in the template) and its
 * endpoint. The generated password has letters and digits only, so it needs no escaping in a URL.
 */

import { Fn, RemovalPolicy, SecretValue } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { DatabaseConfig, PostgresMajor } from './config';

/** The database's name and its owner on a new instance. */
const DATABASE_NAME = 'reefguide';
const DATABASE_USER = 'reefguide';
/** Every ASCII punctuation character: the generated password is alphanumeric. */
const PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

/** The RDS engine version of each supported major version. */
const ENGINES: Readonly<Record<PostgresMajor, rds.PostgresEngineVersion>> = {
  '15': rds.PostgresEngineVersion.VER_15,
  '16': rds.PostgresEngineVersion.VER_16,
  '17': rds.PostgresEngineVersion.VER_17,
};

/** What the database construct needs from the stack. */
export interface DatabaseProps {
  readonly config: DatabaseConfig;
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
}

/** The database and the secret holding its URL. */
export class Database extends Construct {
  /** The new instance; absent with an existing database. */
  readonly instance?: rds.DatabaseInstance;
  /** `DATABASE_URL`, as an ECS container secret. */
  readonly urlSecret: ecs.Secret;

  constructor(scope: Construct, id: string, props: DatabaseProps) {
    super(scope, id);
    const { config } = props;
    if (config.kind === 'existing') {
      const secret = secretsmanager.Secret.fromSecretCompleteArn(this, 'UrlSecret', config.urlSecretArn);
      this.urlSecret = ecs.Secret.fromSecretsManager(secret, config.urlSecretField);
      return;
    }
    this.instance = new rds.DatabaseInstance(this, 'Instance', {
      engine: rds.DatabaseInstanceEngine.postgres({ version: ENGINES[config.postgresVersion] }),
      instanceType: new ec2.InstanceType(config.instanceType),
      vpc: props.vpc,
      vpcSubnets: props.subnets,
      databaseName: DATABASE_NAME,
      credentials: rds.Credentials.fromGeneratedSecret(DATABASE_USER, { excludeCharacters: PUNCTUATION }),
      allocatedStorage: config.allocatedStorageGiB,
      storageEncrypted: true,
      multiAz: config.multiAz,
      publiclyAccessible: false,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.SNAPSHOT,
    });
    const credentials = this.instance.secret!;
    const url = Fn.join('', [
      'postgres://',
      credentials.secretValueFromJson('username').unsafeUnwrap(),
      ':',
      credentials.secretValueFromJson('password').unsafeUnwrap(),
      '@',
      this.instance.dbInstanceEndpointAddress,
      ':',
      this.instance.dbInstanceEndpointPort,
      `/${DATABASE_NAME}`,
    ]);
    const urlSecret = new secretsmanager.Secret(this, 'Url', {
      description: 'DATABASE_URL of the reefguide server',
      secretStringValue: SecretValue.unsafePlainText(url),
    });
    this.urlSecret = ecs.Secret.fromSecretsManager(urlSecret);
  }

  /** Lets `client` connect to a new instance (an existing database's rules are its owner's). */
  allowFrom(client: ec2.IConnectable): void {
    this.instance?.connections.allowDefaultPortFrom(client, 'reefguide server');
  }
}

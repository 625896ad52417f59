/** The results bucket: private, encrypted, TLS only, kept when the stack goes; and the rights
 * on its results prefix (never the whole bucket). */

import { RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { StorageConfig } from './config';

/** The bucket of result files. */
export class ResultsBucket extends Construct {
  readonly bucket: s3.Bucket;
  /** The key prefix of result files, without a trailing `/`. */
  readonly prefix: string;

  constructor(scope: Construct, id: string, config: StorageConfig) {
    super(scope, id);
    this.prefix = config.prefix;
    this.bucket = new s3.Bucket(this, 'Bucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
      cors:
        config.corsAllowedOrigins.length === 0
          ? undefined
          : [
              {
                allowedOrigins: [...config.corsAllowedOrigins],
                allowedMethods: [s3.HttpMethods.GET, s3.HttpMethods.HEAD],
                allowedHeaders: ['*'],
                maxAge: 3600,
              },
            ],
    });
  }

  /** Lets `grantee` list, read and write result files: below the prefix only. */
  grantResults(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [this.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${this.prefix}/*`] } },
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject', 's3:PutObject'],
        resources: [this.bucket.arnForObjects(`${this.prefix}/*`)],
      }),
    );
  }
}

/**
 * Container images: the repository's own Dockerfile built on deploy (`build`), an ECR image
 * (the execution roles are then granted its pull), or any other registry's URI as given.
 */

import * as path from 'node:path';
import { Stack } from 'aws-cdk-lib';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { Construct } from 'constructs';
import { BUILD_IMAGE } from './config';

/** `<account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>[:<tag>|@<digest>]`. */
const ECR_URI = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\/([a-z0-9._\/-]+?)(?::([\w.-]+)|@(sha256:[0-9a-f]{64}))?$/;

/** Turns image settings into container images, each image once. */
export class Images extends Construct {
  private readonly images = new Map<string, ecs.ContainerImage>();

  constructor(
    scope: Construct,
    id: string,
    /** The directory holding the `Dockerfile` (the repository's root). */
    private readonly buildContext: string,
  ) {
    super(scope, id);
  }

  /** The image `spec` names: [`BUILD_IMAGE`], an ECR URI or another registry's URI. */
  image(spec: string): ecs.ContainerImage {
    let image = this.images.get(spec);
    if (image === undefined) {
      image = this.create(spec);
      this.images.set(spec, image);
    }
    return image;
  }

  private create(spec: string): ecs.ContainerImage {
    if (spec === BUILD_IMAGE) {
      return ecs.ContainerImage.fromAsset(path.resolve(this.buildContext), {
        // Never part of the build context: build output, local data, this app.
        exclude: ['target', 'deploy', '.git', 'reefguide-data', '**/node_modules'],
      });
    }
    const ecrUri = ECR_URI.exec(spec);
    if (ecrUri === null) {
      return ecs.ContainerImage.fromRegistry(spec);
    }
    const [, account, region, name, tag, digest] = ecrUri;
    const repository = ecr.Repository.fromRepositoryAttributes(this, `Repository${this.images.size}`, {
      repositoryName: name,
      repositoryArn: Stack.of(this).formatArn({ service: 'ecr', account, region, resource: 'repository', resourceName: name }),
    });
    return ecs.ContainerImage.fromEcrRepository(repository, digest ?? tag ?? 'latest');
  }
}

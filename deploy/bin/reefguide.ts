#!/usr/bin/env node
/**
 * The CDK app: one reefguide stack, configured by the JSON file named by the context value
 * `config` (`cdk synth -c config=config.example.json`; default `config.json` in this directory).
 * A bad configuration stops the app with one line naming the file and the field.
 */

import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { ConfigError, loadConfig } from '../lib/config';
import { ReefGuideStack } from '../lib/stack';

const app = new App();
const file = path.resolve(String(app.node.tryGetContext('config') ?? 'config.json'));
try {
  const config = loadConfig(file);
  new ReefGuideStack(app, config.stackName, { config, env: config.env });
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`invalid deployment configuration ${file}: ${error.message}`);
    process.exit(1);
  }
  throw error;
}

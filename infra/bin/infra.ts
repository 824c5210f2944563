#!/usr/bin/env node
// The cell CDK app: `npx cdk synth -c productName=suite -c environment=prod` (see README.md).
import * as cdk from 'aws-cdk-lib';
import { buildCell } from '../lib/app';

const app = new cdk.App();
buildCell(app);
app.synth();

'use strict';

// Refuses a stage before anything is packaged when a name built from it would exceed AWS's limit
// for that kind of resource (`shop-orders-<stage>-start-fulfilment`: Lambda allows 64 characters),
// which CloudFormation would otherwise report deep into a deploy. The framework itself already
// refuses characters other than ASCII letters, digits and hyphens in a stage.

// Name property and AWS's maximum length, per resource type the services name themselves.
const LIMITS = {
  'AWS::DynamoDB::Table': ['TableName', 255],
  'AWS::SQS::Queue': ['QueueName', 80],
  'AWS::SNS::Topic': ['TopicName', 256],
  'AWS::StepFunctions::StateMachine': ['StateMachineName', 80],
  'AWS::Events::EventBus': ['Name', 256],
  'AWS::Events::Rule': ['Name', 64],
  'AWS::Events::Archive': ['ArchiveName', 48],
  'AWS::CloudWatch::Alarm': ['AlarmName', 255],
  'AWS::CloudWatch::Dashboard': ['DashboardName', 255],
  'AWS::Logs::LogGroup': ['LogGroupName', 512],
  'AWS::Cognito::UserPool': ['UserPoolName', 128],
  'AWS::Cognito::UserPoolClient': ['ClientName', 128],
  'AWS::IAM::Role': ['RoleName', 64],
  'AWS::CodeDeploy::Application': ['ApplicationName', 100],
  'AWS::CodeDeploy::DeploymentGroup': ['DeploymentGroupName', 100],
};
const FUNCTION_NAME_LIMIT = 64;

class StageNames {
  constructor(serverless, options) {
    this.serverless = serverless;
    this.options = options || {};
    // Before the package step empties .serverless/: a refused stage leaves the last package as it was.
    this.hooks = { 'before:package:cleanup': () => this.check() };
  }

  names() {
    const { service } = this.serverless;
    const found = service.getAllFunctions().map((name) => ({
      kind: 'Lambda function',
      name: service.getFunction(name).name,
      limit: FUNCTION_NAME_LIMIT,
    }));
    const resources = (service.resources && service.resources.Resources) || {};
    for (const resource of Object.values(resources)) {
      const limit = LIMITS[resource.Type];
      const name = limit && resource.Properties && resource.Properties[limit[0]];
      if (typeof name === 'string') found.push({ kind: resource.Type, name, limit: limit[1] });
    }
    return found;
  }

  check() {
    const stage = this.serverless.service.provider.stage;
    const tooLong = this.names().filter(({ name, limit }) => name.length > limit);
    if (!tooLong.length) return;
    const longest = Math.min(...tooLong.map(({ name, limit }) => stage.length - (name.length - limit)));
    const lines = tooLong.map(({ kind, name, limit }) => `  ${name}: ${name.length} characters, ${kind} allows ${limit}`);
    throw new this.serverless.classes.Error(
      `Stage "${stage}" is too long for these names:\n${lines.join('\n')}\n` +
        `Use a stage of at most ${Math.max(longest, 0)} characters.`
    );
  }
}

module.exports = StageNames;

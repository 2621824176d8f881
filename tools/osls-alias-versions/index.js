'use strict';

// An AWS::Lambda::Alias declared in `resources` without a FunctionVersion gets the version of its
// function that this package publishes, and the function's event source mappings (queues, streams)
// invoke the alias instead of $LATEST. The framework names a version after a hash of its code and
// configuration, so a template cannot name it itself; with the alias's UpdatePolicy
// (CodeDeployLambdaAliasUpdate), each new version then reaches the alias, and the events, through
// CodeDeploy (services/*/resources/gradual-deploys.yml). Only the compiled CloudFormation is read
// and changed, so the plugin does not depend on the framework's internals.

class AliasVersions {
  constructor(serverless) {
    this.serverless = serverless;
    // After `resources` are merged into the template, before it is written.
    this.hooks = { 'after:aws:package:finalize:mergeCustomProviderResources': () => this.complete() };
  }

  complete() {
    const { Resources } = this.serverless.service.provider.compiledCloudFormationTemplate;
    const ofType = (type) => Object.entries(Resources).filter(([, resource]) => resource.Type === type);
    for (const [aliasId, alias] of ofType('AWS::Lambda::Alias')) {
      if (alias.Properties.FunctionVersion !== undefined) continue; // the framework's, or complete
      const functionId = alias.Properties.FunctionName && alias.Properties.FunctionName.Ref;
      const versions = ofType('AWS::Lambda::Version').filter(
        ([, version]) => version.Properties.FunctionName.Ref === functionId
      );
      if (!functionId || versions.length !== 1) {
        throw new this.serverless.classes.Error(
          `${aliasId}: an alias without FunctionVersion needs FunctionName: !Ref <a function of this ` +
            `service> whose version this package publishes (found ${versions.length} versions)`
        );
      }
      alias.Properties.FunctionVersion = { 'Fn::GetAtt': [versions[0][0], 'Version'] };
      // The same qualified ARN the framework gives a SnapStart function's mappings.
      const unqualified = JSON.stringify({ 'Fn::GetAtt': [functionId, 'Arn'] });
      for (const [, mapping] of ofType('AWS::Lambda::EventSourceMapping')) {
        if (JSON.stringify(mapping.Properties.FunctionName) !== unqualified) continue;
        mapping.Properties.FunctionName = {
          'Fn::Join': [':', [{ 'Fn::GetAtt': [functionId, 'Arn'] }, alias.Properties.Name]],
        };
        mapping.DependsOn = [...[].concat(mapping.DependsOn || []), aliasId];
      }
    }
  }
}

module.exports = AliasVersions;

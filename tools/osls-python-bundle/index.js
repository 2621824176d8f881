'use strict';

// Completes each service's zip for Lambda after the framework packaged the code: moves
// src/<package>/ to the zip root, adds the third-party dependencies built for the declared
// architecture, and compiles everything to bytecode. The work is done by tools/bundle.py.
//
// And makes `invoke local` run as the local stack's handlers do, with no exports: the repo's
// .venv, the service's src/ and the repo root on PYTHONPATH, and the AWS endpoint of the running
// `make dev` (which writes its URLs to .local-stack/endpoints.json) with fake credentials.

const { execFileSync } = require('child_process');
const fs = require('fs');
const http = require('http');
const path = require('path');

const repoRoot = path.resolve(__dirname, '..', '..');
const stateDir = process.env.LOCAL_STACK_DIR || path.join(repoRoot, '.local-stack');

class PythonBundle {
  constructor(serverless, options, utils) {
    this.serverless = serverless;
    this.options = options || {};
    this.log = utils && utils.log;
    this.hooks = {
      'after:package:createDeploymentArtifacts': () => this.bundle(),
      // Before the framework's own invoke local hooks, which resolve Ref and Fn::ImportValue
      // variables by asking CloudFormation: the local endpoint must be set by then.
      initialize: () => this.invokeLocalAgainstTheStack(),
    };
  }

  async invokeLocalAgainstTheStack() {
    const commands = this.serverless.processedInput.commands;
    if (commands.join(' ') !== 'invoke local') return;
    const venv = path.join(repoRoot, '.venv');
    // invoke local puts $VIRTUAL_ENV/bin first on PATH and runs `python3` from it.
    if (!process.env.VIRTUAL_ENV && fs.existsSync(venv)) process.env.VIRTUAL_ENV = venv;
    const paths = [path.join(this.serverless.serviceDir, 'src'), repoRoot];
    if (process.env.PYTHONPATH) paths.push(process.env.PYTHONPATH);
    process.env.PYTHONPATH = paths.join(path.delimiter);
    process.env.POWERTOOLS_TRACE_DISABLED = process.env.POWERTOOLS_TRACE_DISABLED || 'true';
    if (process.env.AWS_ENDPOINT_URL) return; // the caller chose an endpoint
    const stack = await runningStack();
    if (!stack) {
      throw new this.serverless.classes.Error(
        'No local stack is running: start one with `make dev` (from the repository root, in ' +
          'another terminal), then run invoke local again. Or export AWS_ENDPOINT_URL to choose ' +
          'an endpoint yourself.',
      );
    }
    if (this.log) this.log.notice(`invoke local: against the local stack, AWS endpoint ${stack.aws}`);
    for (const name of ['AWS_PROFILE', 'AWS_DEFAULT_PROFILE', 'AWS_SESSION_TOKEN']) delete process.env[name];
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: stack.aws,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_DEFAULT_REGION: this.serverless.service.provider.region || 'us-east-1',
      AWS_ACCOUNT_ID_ENDPOINT_MODE: 'disabled',
    });
  }

  bundle() {
    const { service } = this.serverless;
    // `package --package <dir>` writes the zip there instead of .serverless/.
    const packageDir = this.options.package
      ? path.resolve(this.serverless.serviceDir, this.options.package)
      : path.join(this.serverless.serviceDir, '.serverless');
    const artifact =
      (service.package && service.package.artifact) || path.join(packageDir, `${service.service}.zip`);
    const venvPython = path.join(repoRoot, '.venv', 'bin', 'python');
    const python = process.env.BUNDLE_PYTHON || (fs.existsSync(venvPython) ? venvPython : 'python3');
    execFileSync(
      python,
      [
        path.join(repoRoot, 'tools', 'bundle.py'),
        '--zip', artifact,
        '--architecture', service.provider.architecture || 'x86_64',
        '--runtime', service.provider.runtime,
      ],
      { stdio: 'inherit' },
    );
  }
}

// The URLs the running `make dev` wrote, if its gateway answers GET /health with 200.
async function runningStack() {
  let stack;
  try {
    stack = JSON.parse(fs.readFileSync(path.join(stateDir, 'endpoints.json'), 'utf8'));
  } catch {
    return null;
  }
  const healthy = await new Promise((resolve) => {
    const request = http.get(`${stack.api}/health`, { timeout: 2000 }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(false));
  });
  return healthy ? stack : null;
}

module.exports = PythonBundle;

'use strict';

// Completes each service's zip for Lambda after the framework packaged the code: moves
// src/<package>/ to the zip root, adds the third-party dependencies built for the declared
// architecture, and compiles everything to bytecode. The work is done by tools/bundle.py.

const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const repoRoot = path.resolve(__dirname, '..', '..');

class PythonBundle {
  constructor(serverless, options) {
    this.serverless = serverless;
    this.options = options || {};
    this.hooks = {
      'after:package:createDeploymentArtifacts': () => this.bundle(),
    };
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

module.exports = PythonBundle;

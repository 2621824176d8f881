'use strict';

// The SES identity the deliver function sends as: `senderEmail`, from params.<stage>.senderEmail
// in serverless/params.yml (the params every service includes) or `--param="senderEmail=<address>"`.
// SES refuses an unverified sender, so a
// stage that deploys to AWS must name one; only the stages that never reach AWS keep a
// placeholder: `dev` packaged for the local stack and the tests, and the deploy rehearsal (an
// emulator at AWS_ENDPOINT_URL). The role may send as the address or as its domain, whichever
// identity the team verified (README.md, docs/deploying.md).
const PLACEHOLDER = 'notifications@shop.example';
const OFFLINE_STAGES = new Set(['dev', 'rehearsal']);

const offline = (stage) =>
  OFFLINE_STAGES.has(stage) && (!process.argv.includes('deploy') || Boolean(process.env.AWS_ENDPOINT_URL));

module.exports = async ({ resolveVariable }) => {
  const stage = await resolveVariable('sls:stage');
  const address = (await resolveVariable('param:senderEmail, null')) ?? (offline(stage) ? PLACEHOLDER : null);
  if (!address || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(address)) {
    throw new Error(
      `notifications: stage "${stage}" has no SES sender${address ? ` (${JSON.stringify(address)} is not an e-mail address)` : ''}: ` +
        `set params.${stage}.senderEmail in serverless/params.yml, or pass ` +
        `--param="senderEmail=<an address or an address of a domain verified in SES>"`
    );
  }
  return { address, domain: address.split('@')[1] };
};

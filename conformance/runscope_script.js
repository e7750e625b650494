// Runs one Runscope post-response script the way Runscope does, for okta_runscope.py.
//
// stdin:  {"script": "...", "request": {...}, "response": {...}, "variables": {...}}
// stdout: {"passed": bool, "error": str|null, "logs": [str], "variables": {...}}
//
// In scope, as in Runscope: `request`, `response` (status, headers, body, response_time_ms,
// size_bytes), `variables` (get/set), `log`, and `assert`, Chai's assert interface.
'use strict';

const vm = require('node:vm');
const { assert } = require('chai');

function main(input) {
  const job = JSON.parse(input);
  const values = { ...job.variables };
  const logs = [];
  const context = vm.createContext({
    request: job.request,
    response: job.response,
    variables: {
      get: (name) => values[name],
      set: (name, value) => { values[name] = value === undefined || value === null ? '' : String(value); },
    },
    log: (...items) => { logs.push(items.map((item) => (typeof item === 'string' ? item : JSON.stringify(item))).join(' ')); },
    assert,
    JSON,
    Math,
    Date,
  });
  let error = null;
  try {
    vm.runInContext(job.script, context, { filename: 'runscope-script.js', timeout: 10000 });
  } catch (exc) {
    error = `${exc && exc.name ? exc.name : 'Error'}: ${exc && exc.message ? exc.message : String(exc)}`;
  }
  return { passed: error === null, error, logs, variables: values };
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => { process.stdout.write(JSON.stringify(main(input))); });

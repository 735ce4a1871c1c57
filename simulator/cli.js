#!/usr/bin/env node
'use strict';

const { parseArgs } = require('node:util');
const { startSimulator } = require('./index');

const USAGE = `Usage: node simulator/cli.js [--port N] [--latency MS] [--token-ttl SECONDS]
                                [--client-id ID --client-secret SECRET [--api-key KEY]]

Starts the Eka Care API simulator on 127.0.0.1 until SIGINT or SIGTERM.

  --port N               port to listen on (default 0: any free port)
  --latency MS           latency added to every request (default 0)
  --token-ttl SECONDS    access token lifetime (default 3600)
  --client-id ID         accepted client id (default demo-client)
  --client-secret SECRET accepted client secret (default demo-secret)
  --api-key KEY          api_key the client must also send (default: none)
  -h, --help             show this help
`;

function usageError(message) {
  process.stderr.write(`${message}\n\n${USAGE}`);
  process.exit(2);
}

function parseNumber(flag, text, { integer = false, min, max = Infinity }) {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    usageError(`Invalid value for --${flag}: ${JSON.stringify(text)}`);
  }
  return value;
}

function parseOptions(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        port: { type: 'string' },
        latency: { type: 'string' },
        'token-ttl': { type: 'string' },
        'client-id': { type: 'string' },
        'client-secret': { type: 'string' },
        'api-key': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    usageError(err.message);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }

  const options = {};
  if (values.port !== undefined) options.port = parseNumber('port', values.port, { integer: true, min: 0, max: 65535 });
  if (values.latency !== undefined) options.latencyMs = parseNumber('latency', values.latency, { min: 0 });
  if (values['token-ttl'] !== undefined) {
    options.tokenTtlSeconds = parseNumber('token-ttl', values['token-ttl'], { min: Number.MIN_VALUE });
  }
  const clientId = values['client-id'];
  const clientSecret = values['client-secret'];
  if ((clientId === undefined) !== (clientSecret === undefined)) {
    usageError('--client-id and --client-secret must be given together');
  }
  if (values['api-key'] !== undefined && clientId === undefined) {
    usageError('--api-key needs --client-id and --client-secret');
  }
  if (clientId !== undefined) {
    options.clients = [{ clientId, clientSecret, apiKey: values['api-key'] }];
  }
  return options;
}

async function main() {
  const simulator = await startSimulator(parseOptions(process.argv.slice(2)));
  process.stdout.write(`Eka Care API simulator listening on ${simulator.url}\n`);
  const stop = () => {
    simulator.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});

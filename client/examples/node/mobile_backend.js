#!/usr/bin/env node
// A grid workers' mobile-app backend, as an app team would write it: phones
// upload daily sanitation check-ins to this backend, which appends them to
// gridd over gRPC with @grpc/grpc-js, loading gridlog's .proto files at run
// time with @grpc/proto-loader (no generated code).
//
// What it shows:
//   * event ids are made by the client, from the phone's own report id, so a
//     retry after a lost answer can never store a report twice: the server
//     answers `duplicate: true` with the original position;
//   * retries with backoff on UNAVAILABLE and DEADLINE_EXCEEDED, never on
//     errors about the data (INVALID_ARGUMENT, FAILED_PRECONDITION);
//   * a deadline on every call.
//
// Usage: node mobile_backend.js [--server 127.0.0.1:7443] [--county 350599] [--reports 20]
//          [--grid ORG_PATH] [--worker ID] [--no_reference]
//          [--ca ca.crt [--token T | --cert me.crt --key me.key]]
// Plaintext reaches a gridd in dev mode on loopback; a deployed gridd takes
// TLS (--ca) and a principal of its access policy: a bearer token (--token,
// default $GRIDD_TOKEN) or a client certificate, as gridctl does. There the
// org data (grids, assignments) is the county grid office's to append:
// --no_reference skips it.
// Prints one JSON summary line; exits 1 if an append failed, 2 on bad options.
'use strict';

const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

function flag(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const server = flag('server', process.env.GRIDD_ADDR || '127.0.0.1:7443');
const county = flag('county', '350599');
const reports = Number(flag('reports', '20'));
const gridPath = flag('grid', `${county}/101/201/g01`);
const workerId = flag('worker', `w-${county}-1`);
const withReference = !process.argv.includes('--no_reference');
const ca = flag('ca', undefined);
const token = flag('token', process.env.GRIDD_TOKEN);
const cert = flag('cert', undefined);
const key = flag('key', undefined);
if ((token || cert) && !ca) {
  console.error('mobile_backend: --token and --cert need --ca: credentials are only sent over TLS');
  process.exit(2);
}
if (Boolean(cert) !== Boolean(key)) {
  console.error('mobile_backend: --cert and --key go together');
  process.exit(2);
}

// Plaintext without --ca; else TLS, with a client certificate and/or a
// bearer token sent as `authorization: Bearer <token>` on every call.
function credentials() {
  if (!ca) return grpc.credentials.createInsecure();
  const tls = grpc.credentials.createSsl(
    fs.readFileSync(ca),
    key ? fs.readFileSync(key) : null,
    cert ? fs.readFileSync(cert) : null,
  );
  if (!token) return tls;
  const bearer = grpc.credentials.createFromMetadataGenerator((_params, callback) => {
    const metadata = new grpc.Metadata();
    metadata.add('authorization', `Bearer ${token}`);
    callback(null, metadata);
  });
  return grpc.credentials.combineChannelCredentials(tls, bearer);
}
// The proto folder of the repository, or GRIDLOG_PROTO.
const protoDir = process.env.GRIDLOG_PROTO || path.join(__dirname, '..', '..', '..', 'proto');

const definition = protoLoader.loadSync(path.join(protoDir, 'grid/v1/log.proto'), {
  keepCase: true, // field names as in the .proto: event_id, org_path, ...
  longs: String, // uint64 positions arrive as decimal strings
  enums: String,
  defaults: false,
  oneofs: true,
  includeDirs: [protoDir],
});
const gridv1 = grpc.loadPackageDefinition(definition).grid.v1;
const log = new gridv1.Log(server, credentials());

function timestamp(date) {
  const ms = date.getTime();
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
}

function appendOnce(request) {
  return new Promise((resolve, reject) => {
    const deadline = new Date(Date.now() + 10000);
    log.Append(request, { deadline }, (err, response) => (err ? reject(err) : resolve(response)));
  });
}

const RETRYABLE = new Set([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]);

// Appends with the same event ids until it is acknowledged: idempotency
// makes the retry safe whether or not the first attempt was stored.
async function append(request) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await appendOnce(request);
    } catch (err) {
      if (!RETRYABLE.has(err.code) || attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
    }
  }
}

async function main() {
  const grid = gridPath;
  const worker = workerId;
  // Fixed times, like the phone's own records: a rerun sends the very same
  // events, which the server recognises as duplicates.
  const started = new Date('2026-01-05T08:00:00+08:00');

  // The county's reference data. Appended with fixed ids, so running the
  // example again finds them already there (duplicates), not an error.
  if (withReference) await append({
    stream: `org/${grid.split('/')[0]}`,
    events: [
      {
        event_id: `node-${county}-grid`,
        type: 'GridDefined',
        org_path: grid,
        occurred_at: timestamp(started),
        grid_defined: { org_path: grid, name: 'Node example grid' },
      },
      {
        event_id: `node-${county}-worker`,
        type: 'WorkerAssigned',
        org_path: grid,
        occurred_at: timestamp(started),
        worker_assigned: { worker_id: worker, org_path: grid, from: timestamp(started) },
      },
    ],
  });

  let appended = 0;
  let duplicates = 0;
  let head = '0';
  const report = (i) => ({
    stream: `sanitation/${grid}`,
    events: [
      {
        // The phone's report id is the event id.
        event_id: `node-${county}-report-${i}`,
        type: 'SanitationReportSubmitted',
        org_path: grid,
        device_id: `phone-${worker}`,
        device_seq: String(i),
        occurred_at: timestamp(new Date(started.getTime() + i * 1000)),
        sanitation_report_submitted: {
          report_id: `node-${county}-report-${i}`,
          kind: 'DAILY_CHECK_IN',
          location: { latitude: 24.96, longitude: 118.38, system: 'GCJ02' },
          reporter_worker_id: worker,
          score_sheet: 'rural-sanitation-2024',
          total_score_x10: 1000 - 10 * (i % 7),
        },
      },
    ],
  });
  for (let i = 1; i <= reports; i++) {
    const response = await append(report(i));
    const result = response.results[0];
    if (result.duplicate) duplicates++;
    else appended++;
    head = response.head_position;
  }

  // The phone never got the answer for report 1 and uploads it again: the
  // server recognises the event id and answers with the original position.
  const again = await append(report(1));
  const resent = again.results[0];

  console.log(
    JSON.stringify({
      server,
      grid,
      appended,
      duplicates,
      resent_report_1: { duplicate: resent.duplicate, position: resent.position },
      head_position: head,
    }),
  );
}

main().then(
  () => log.close(),
  (err) => {
    console.error(`mobile_backend: ${err.code !== undefined ? grpc.status[err.code] + ': ' : ''}${err.details || err.message}`);
    if (err.code === grpc.status.UNAUTHENTICATED || err.code === grpc.status.PERMISSION_DENIED) {
      console.error("hint: the token or certificate must be a principal of gridd's access policy that may append these events");
    }
    if (err.code === grpc.status.UNAVAILABLE) {
      console.error(`hint: is gridd running on ${server}? (make run, or --server host:port)`);
    }
    log.close();
    process.exit(1);
  },
);

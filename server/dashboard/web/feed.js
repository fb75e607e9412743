// The rows a screen shows, kept current: a View per projection, filled either
// live from one multiplexed Server-Sent Events stream (a FeedSet) or once from
// point-in-time reads (loadAsOf). Panels read Views and never care which.
//
// One EventSource for all of a screen's feeds, because browsers open at most
// six HTTP/1.1 connections to a host. EventSource reconnects by itself and
// sends Last-Event-ID; the server then resumes every feed without gap or
// duplicate, or restarts a feed's snapshot, which we take as a new snapshot.

import { feedUrl, getProjection } from './api.js';

// Test hooks (web/README.md): the raw data of every SSE message, the count of
// change messages at or below a feed's applied position (must stay 0), and
// the position each feed's view is complete through.
const FEED_LOG_MAX = 5000;
window.gridlog = window.gridlog || { feedLog: [], duplicates: 0, position: {} };

// The rows of one projection under one prefix, and the log position the
// view is complete through.
export class View {
  constructor(name, prefix) {
    this.name = name;
    this.prefix = prefix;
    this.rows = new Map(); // key → ProjectionRow
    this.position = null; // string, as the server sends it
    this.ready = false; // the first snapshot is complete (or the read done)
    this.truncated = false;
    this.error = null; // why this view stopped, if it did
    this.staging = null; // a snapshot being received; swapped in when complete
    this.lastWasSnapshot = false;
  }

  list() {
    return [...this.rows.values()];
  }
}

function applyChange(rows, row) {
  if (row.deleted) rows.delete(row.key);
  else rows.set(row.key, row);
}

// Live views over one EventSource. `on` has:
//   change(rowsMoved)      rows moved, or (false) only a position: coalesce
//   state(s)               'connecting' | 'live' | 'reconnecting'
//   ended(code, message)   a feed was ended for good (PERMISSION_DENIED,
//                          UNAUTHENTICATED): the stream is closed
//   closed()               the EventSource gave up (e.g. 401/403 on reconnect)
export class FeedSet {
  constructor(specs, on) {
    this.specs = specs;
    this.views = specs.map((s) => new View(s.name, s.prefix));
    this.on = on;
    this.es = null;
  }

  start() {
    this.es = new EventSource(feedUrl(this.specs));
    this.on.state('connecting');
    this.es.addEventListener('open', () => this.on.state('live'));
    this.es.addEventListener('rows', (e) => this.onRows(e.data));
    this.es.addEventListener('end', (e) => this.onEnd(e.data));
    this.es.addEventListener('error', () => {
      if (!this.es) return;
      if (this.es.readyState === EventSource.CLOSED) {
        this.stop();
        this.on.closed();
      } else {
        this.on.state('reconnecting');
      }
    });
  }

  stop() {
    if (this.es) this.es.close();
    this.es = null;
  }

  // Derived fields (days overdue, a form's MISSING, minutes past due) move
  // with the clock, not with the log: a fresh snapshot now and then brings
  // rows that did not change up to date. The rows on screen stay until the
  // new snapshot is complete (it is staged, `begin` first).
  refresh() {
    if (!this.es) return;
    this.es.close();
    this.es = null;
    this.start();
  }

  // Every view has its first snapshot (or has ended), and none is in the
  // middle of a new one: what is drawn is a whole view.
  complete() {
    return this.views.every((v) => (v.ready && !v.staging) || v.error);
  }

  onRows(data) {
    const m = logged(data);
    if (!m) return;
    const v = this.views[m.feed];
    if (!v) return;
    const rows = m.rows || [];
    if (m.snapshot) {
      // `begin` marks a feed's first snapshot message on a connection: after
      // a reconnect the server restarts a snapshot it had not finished, and
      // what came of the old one must go.
      if (m.begin || !v.lastWasSnapshot || !v.staging) v.staging = new Map();
      for (const r of rows) applyChange(v.staging, r);
      v.lastWasSnapshot = true;
      if (m.complete) {
        v.rows = v.staging;
        v.staging = null;
        v.ready = true;
        v.position = m.position;
        window.gridlog.position[v.name] = m.position;
      }
    } else {
      v.lastWasSnapshot = false;
      if (v.staging) {
        // Changes before the snapshot completed: the protocol does not send
        // them, but if it did they belong to the snapshot being built.
        for (const r of rows) applyChange(v.staging, r);
      } else {
        if (rows.length > 0 && v.position !== null && Number(m.position) <= Number(v.position)) {
          window.gridlog.duplicates++;
          return;
        }
        for (const r of rows) applyChange(v.rows, r);
        if (m.position) {
          v.position = m.position;
          window.gridlog.position[v.name] = m.position;
        }
      }
    }
    this.on.change(rows.length > 0 || Boolean(m.complete));
  }

  onEnd(data) {
    const m = logged(data);
    if (!m) return;
    const v = this.views[m.feed];
    if (m.code === 'PERMISSION_DENIED' || m.code === 'UNAUTHENTICATED') {
      // Not retried: the right was taken away (a policy reload) or the
      // session ended; reconnecting would only be refused again.
      this.stop();
      for (const w of this.views) w.error ??= m.message || m.code;
      this.on.ended(m.code, m.message || '');
    } else if (m.code === 'UNAVAILABLE') {
      // The server is shutting down: EventSource reconnects when the
      // stream closes, and the feeds resume.
    } else if (v) {
      v.error = `${m.code}: ${m.message || ''}`;
      // When every feed has ended the server closes the stream: reconnecting
      // would only open and end them again, every two seconds.
      if (this.views.every((w) => w.error)) this.stop();
      this.on.change(true);
    }
  }
}

// Keeps a message's data for the test hooks and parses it (null when it is
// not JSON, which the server never sends).
function logged(data) {
  const l = window.gridlog.feedLog;
  l.push(data);
  if (l.length > FEED_LOG_MAX) l.splice(0, l.length - FEED_LOG_MAX);
  try {
    return JSON.parse(data);
  } catch {
    return null;
  }
}

// Point-in-time views: one GET per projection at log position `at`.
// Resolves when all are read; a failed read leaves its view with `error`.
export async function loadAsOf(specs, at, maxRows) {
  return Promise.all(specs.map(async (s) => {
    const v = new View(s.name, s.prefix);
    try {
      const r = await getProjection(s.name, s.prefix, at, maxRows);
      for (const row of r.rows || []) v.rows.set(row.key, row);
      v.position = r.position || String(at);
      v.truncated = Boolean(r.truncated);
    } catch (e) {
      v.error = e.message;
      if (e.status === 401) v.signedOut = true;
    }
    v.ready = true;
    return v;
  }));
}

// Reading projection rows as the server sends them: protobuf's JSON mapping,
// where zero values are absent and 64-bit integers are strings, and where a
// field the caller may not see is either listed in `redacted` (removed or
// masked at its clearance) or in `suppressed` (a small count withheld from a
// count-only caller). A withheld field must never read as 0.

import { t, fmtNum } from './i18n.js';

// ---------------------------------------------------------------- org paths

// Keys are "<org path>#<own id>…"; the org path is what a row belongs to.
export function orgOf(key) {
  const i = key.indexOf('#');
  return i < 0 ? key : key.slice(0, i);
}

export function parentOf(path) {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

// Whether org path `path` is `prefix` or below it, on whole segments as the
// server's prefixes are ("350583/1" is not under "350583/10").
export function under(path, prefix) {
  if (prefix === '') return true;
  if (path === undefined || path === null) return false;
  return path === prefix || path.startsWith(`${prefix}/`) || path.startsWith(`${prefix}#`);
}

// ---------------------------------------------------------------- row values

// [oneof name, row body]: value is {"population": {...}}.
export function body(row) {
  const v = row?.value;
  if (!v) return ['', {}];
  const k = Object.keys(v)[0];
  return [k, v[k] || {}];
}

// Whether `list` (a row's `redacted` or `suppressed`) names field `f`. The
// server spells paths from the row value ("population.households") for
// redaction and from the row type ("households") for suppression; a nested
// path ("members.name") names its parent too.
function names(list, type, f) {
  if (!list || list.length === 0) return false;
  return list.some((p) => {
    const q = p.startsWith(`${type}.`) ? p.slice(type.length + 1) : p;
    return q === f || q.startsWith(`${f}.`);
  });
}

// The fields that small-count suppression withholds because they are 1-4
// ((small_count) in projection.proto). Other fields in `suppressed` are
// totals and parts withheld with them so that the small count cannot be
// worked out from what is shown: those are not "<5", only withheld.
const SMALL_COUNTS = {
  population: ['collective_households', 'deaths_awaiting_confirmation', 'registered_away', 'non_registered_residents'],
};

// The state of one field of a row:
//   {state: 'ok', v, masked}   v is the value (undefined when absent = zero)
//   {state: 'suppressed'}      a small count withheld: show "<5"
//   {state: 'protected'}       withheld with a small count: show "—"
//   {state: 'redacted'}        removed at the caller's clearance: show "—"
export function field(row, f) {
  const [type, b] = body(row);
  if (names(row.suppressed, type, f)) {
    return { state: (SMALL_COUNTS[type] || []).includes(f) ? 'suppressed' : 'protected' };
  }
  const present = b[f] !== undefined;
  const listed = names(row.redacted, type, f);
  if (!present && listed) return { state: 'redacted' };
  return { state: 'ok', v: b[f], masked: present && listed };
}

// A number field (absent = 0; int64 arrive as strings).
export function num(row, f) {
  const s = field(row, f);
  if (s.state !== 'ok') return s;
  return { state: 'ok', v: s.v === undefined ? 0 : Number(s.v) };
}

// A cell for a table or a KPI: text, a sort value and, for a withheld value,
// a class and a tooltip that say so. `fmt` formats a shown number.
export function numCell(row, f, fmt = (n) => fmtNum(n)) {
  return cellOf(num(row, f), fmt);
}

export function cellOf(s, fmt = (n) => fmtNum(n)) {
  if (s.state === 'suppressed') return { text: '<5', sort: null, cls: 'suppressed', title: t('suppressed') };
  if (s.state === 'protected') return { text: '—', sort: null, cls: 'withheld', title: t('protected') };
  if (s.state === 'redacted') return { text: '—', sort: null, cls: 'withheld', title: t('withheld') };
  return { text: fmt(s.v), sort: s.v };
}

// A string field; a masked one is shown as masked (the server's mask).
export function strCell(row, f, label = (x) => x) {
  const s = field(row, f);
  if (s.state === 'redacted') return { text: '—', sort: null, cls: 'withheld', title: t('withheld') };
  if (s.state === 'suppressed') return { text: '<5', sort: null, cls: 'suppressed', title: t('suppressed') };
  if (s.state === 'protected') return { text: '—', sort: null, cls: 'withheld', title: t('protected') };
  const v = s.v === undefined ? '' : String(s.v);
  return { text: label(v), sort: v, cls: s.masked ? 'masked' : undefined, title: s.masked ? t('masked') : undefined };
}

// Sum of a count over rows, e.g. open findings over grid rows. Returns
// {value, withheld}: withheld when any part could not be read, so the sum
// is not shown as if it were whole.
export function sum(rows, f) {
  let value = 0;
  let withheld = false;
  for (const r of rows) {
    const s = num(r, f);
    if (s.state === 'ok') value += s.v;
    else withheld = true;
  }
  return { value, withheld };
}

export function ts(row, f) {
  const s = field(row, f);
  return s.state === 'ok' && s.v ? Date.parse(s.v) : null;
}

// ---------------------------------------------------------------- forms

// The task a "today's form" figure is about: of the tasks with rows under the
// prefix, the one due latest on or before the end of today (China time);
// else the earliest one due after that. Returns '' when there is none.
export function todaysTask(rows, now = Date.now()) {
  const due = new Map();
  for (const r of rows) {
    const [, b] = body(r);
    const task = b.task_id || r.key.split('#')[0];
    const d = b.due ? Date.parse(b.due) : 0;
    if (!due.has(task) || d > due.get(task)) due.set(task, d);
  }
  const endOfToday = endOfChinaDay(now);
  let best = '';
  let bestDue = -Infinity;
  let next = '';
  let nextDue = Infinity;
  for (const [task, d] of due) {
    if (d <= endOfToday && (d > bestDue || (d === bestDue && task > best))) [best, bestDue] = [task, d];
    if (d > endOfToday && d < nextDue) [next, nextDue] = [task, d];
  }
  return best || next;
}

function endOfChinaDay(ms) {
  const day = 86400000;
  const offset = 8 * 3600000; // China has no daylight saving
  return Math.floor((ms + offset) / day) * day + day - offset - 1;
}

export const SUBMITTED = new Set(['SUBMITTED', 'LATE']);
export const NOT_SUBMITTED = new Set(['PENDING', 'MISSING']);

export function formTaskOf(row) {
  const [, b] = body(row);
  return b.task_id || row.key.split('#')[0];
}

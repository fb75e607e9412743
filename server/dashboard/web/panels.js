// The departments' screens besides the overview. Each is
//   {id, feeds(ctx) → projection names, build(root, ctx) → {update(ctx)}}
// (ops instead loads /api/projections itself). build() lays out the cards
// once; update() refills them from the views whenever rows move, and returns
// the promise of its charts so that "ready" means drawn.

import { h, clear } from './dom.js';
import { t, enumLabel, fmtNum, fmtTime, fmtMinutes } from './i18n.js';
import { body, field, num, numCell, strCell, cellOf, orgOf, ts, todaysTask, formTaskOf, SUBMITTED, NOT_SUBMITTED } from './model.js';
import { card, orgCell, orgLabel, pct, empty } from './ui.js';
import { SortTable } from './table.js';
import { draw, COLORS } from './charts.js';
import { listProjections } from './api.js';

const DAY_MS = 86400000;
const STALE_MS = 7 * DAY_MS;

const keyPart = (r, i) => r.key.split('#')[i] ?? '';
const lastPart = (r) => r.key.slice(r.key.lastIndexOf('#') + 1);
const x10 = (n) => fmtNum(n / 10, 1);
const yuan = (fen) => fmtNum(fen / 100, 0);
const timeCell = (r, f, extra = {}) => {
  const s = field(r, f);
  if (s.state !== 'ok') return cellOf(s);
  return { text: fmtTime(s.v), sort: s.v ? Date.parse(s.v) : null, cls: 'time', ...extra };
};
const enumCell = (r, f, kind) => strCell(r, f, (v) => enumLabel(kind, v));
const flag = (r, f, alert) => {
  const s = field(r, f);
  if (s.state !== 'ok') return cellOf(s);
  return { text: s.v ? t('yes') : '', sort: s.v ? 1 : 0, cls: s.v && alert ? 'alert' : undefined };
};

// ---------------------------------------------------------------- sanitation

export const sanitation = {
  id: 'sanitation',
  feeds: () => ['grid_sanitation', 'rectification_queue'],
  build(root, ctx) {
    const a = card(t('sec.gridSanitation'), { id: 'grid_sanitation', wide: true });
    const grids = new SortTable([
      { id: 'grid', label: t('col.grid'), cell: (r) => orgCell(ctx, r.key) },
      { id: 'score', label: t('col.score'), num: true, cell: (r) => numCell(r, 'last_score_x10', x10) },
      { id: 'kind', label: t('col.kind'), cell: (r) => enumCell(r, 'last_kind', 'sanitationKind') },
      { id: 'last', label: t('col.lastReport'), cell: (r) => {
        const at = ts(r, 'last_report_at');
        const stale = at === null || ctx.now - at > STALE_MS;
        return timeCell(r, 'last_report_at', stale ? { cls: 'time stale', title: t('stale') } : {});
      } },
      { id: 'reports', label: t('col.reports'), num: true, cell: (r) => numCell(r, 'reports') },
      { id: 'open', label: t('col.openFindings'), num: true, cell: (r) => numCell(r, 'open_finding_count') },
      { id: 'overdue', label: t('col.overdueFindings'), num: true, cell: (r) => {
        const c = numCell(r, 'overdue_finding_count');
        return c.sort > 0 ? { ...c, cls: 'alert' } : c;
      } },
    ], { sort: ['overdue', 'desc'] });
    a.body.append(grids.el);

    const b = card(t('sec.rectification'), { id: 'rectification_queue', wide: true });
    const queue = new SortTable([
      { id: 'grid', label: t('col.grid'), cell: (r) => orgCell(ctx, orgOf(r.key)) },
      { id: 'finding', label: t('col.finding'), cell: (r) => lastPart(r) },
      { id: 'responsible', label: t('col.responsible'), cell: (r) => {
        const s = field(r, 'responsible');
        if (s.state !== 'ok') return cellOf(s);
        if (s.v?.org_path) return orgCell(ctx, s.v.org_path);
        return s.v?.household_id || '';
      } },
      { id: 'ordered', label: t('col.orderedAt'), cell: (r) => timeCell(r, 'ordered_at') },
      { id: 'deadline', label: t('col.deadline'), cell: (r) => timeCell(r, 'deadline') },
      { id: 'days', label: t('col.daysOverdue'), num: true, cell: (r) => {
        const c = numCell(r, 'days_overdue');
        return c.sort > 0 ? { ...c, cls: 'alert' } : c;
      } },
      { id: 'failed', label: t('col.failed'), num: true, cell: (r) => numCell(r, 'failed_reinspections') },
      { id: 'extensions', label: t('col.extensions'), num: true, cell: (r) => numCell(r, 'extensions') },
      { id: 'escalated', label: t('col.escalated'), cell: (r) => strCell(r, 'escalated_to') },
    ], { sort: ['days', 'desc'], rowClass: (r) => (num(r, 'days_overdue').v > 0 ? 'alert-row' : undefined) });
    b.body.append(queue.el);
    root.append(a.el, b.el);
    return {
      update(c) {
        const gs = c.view('grid_sanitation');
        const rq = c.view('rectification_queue');
        grids.update(gs.list());
        queue.update(rq.list());
        a.setSources(c, [{ view: gs }]);
        b.setSources(c, [{ view: rq }]);
      },
    };
  },
};

// ---------------------------------------------------------------- civil affairs

const RESIDENCE = [
  ['registered_residents', 'col.registered'],
  ['registered_away', 'col.away'],
  ['non_registered_residents', 'col.nonRegistered'],
];

export const civil = {
  id: 'civil',
  // The roster is personal data (C2): below that the server would send
  // rows with every name withheld, so it is not asked for.
  feeds: (ctx) => (ctx.clearance >= 3 ? ['population', 'household_roster'] : ['population']),
  build(root, ctx) {
    const a = card(t('sec.population'), { id: 'population', wide: true });
    const pieEl = h('div', { class: 'chart' });
    const facts = h('dl', { class: 'facts' });
    a.body.append(h('div', { class: 'split' }, facts, pieEl));

    const b = card(t('sec.populationChildren'), { id: 'population_children', wide: true });
    const popCols = [
      ['households', 'col.households'], ['family_households', 'col.family'],
      ['collective_households', 'col.collective'], ['residents', 'col.residents'],
      ...RESIDENCE, ['deaths_awaiting_confirmation', 'col.deaths'],
    ];
    const units = new SortTable([
      { id: 'unit', label: t('col.unit'), cell: (r) => orgCell(ctx, r.key, { link: true }) },
      ...popCols.map(([f, l]) => ({ id: f, label: t(l), num: true, cell: (r) => numCell(r, f) })),
    ], { sort: ['unit', 'asc'], rowClass: (r) => (r.key === ctx.prefix ? 'total-row' : undefined) });
    b.body.append(units.el);

    const c3 = card(t('sec.roster'), { id: 'household_roster', wide: true });
    const roster = new SortTable([
      { id: 'grid', label: t('col.grid'), cell: (r) => orgCell(ctx, orgOf(r.key)) },
      { id: 'household', label: t('col.household'), cell: (r) => lastPart(r) },
      { id: 'kind', label: t('col.kind'), cell: (r) => enumCell(r, 'kind', 'householdKind') },
      { id: 'house', label: t('col.houseNumber'), cell: (r) => strCell(r, 'house_number') },
      { id: 'head', label: t('col.head'), cell: (r) => memberNames(r, (m) => m.relation_to_head === 'HEAD') },
      { id: 'members', label: t('col.members'), cell: (r) => memberNames(r, () => true, true) },
      { id: 'persons', label: t('col.memberCount'), num: true, cell: (r) => {
        const s = field(r, 'members');
        return s.state === 'ok' ? { text: fmtNum((s.v || []).length), sort: (s.v || []).length } : cellOf(s);
      } },
    ], { sort: ['grid', 'asc'], limit: 300 });
    if (ctx.clearance >= 3) c3.body.append(roster.el);
    else c3.body.append(empty(t('sec.rosterNeedsC2')));
    root.append(a.el, b.el, c3.el);

    return {
      update(c) {
        const pop = c.view('population');
        const row = pop.rows.get(c.prefix);
        clear(facts);
        const fact = (label, cell) => facts.append(h('dt', { text: label }),
          h('dd', { class: cell.cls, title: cell.title, text: cell.text }));
        const pie = [];
        if (row) {
          fact(t('col.households'), numCell(row, 'households'));
          fact(t('col.residents'), numCell(row, 'residents'));
          RESIDENCE.forEach(([f, l], i) => {
            fact(t(l), numCell(row, f));
            const s = num(row, f);
            if (s.state === 'ok' && s.v > 0) pie.push({ name: t(l), value: s.v, itemStyle: { color: COLORS[i] } });
          });
          fact(t('col.deaths'), numCell(row, 'deaths_awaiting_confirmation'));
        } else {
          facts.append(h('dd', { text: t('empty') }));
        }
        units.update(pop.list().filter((r) => r.key === c.prefix || c.children(c.prefix).includes(r.key)));
        a.setSources(c, [{ view: pop }]);
        b.setSources(c, [{ view: pop }]);
        if (c.clearance >= 3) {
          const hr = c.view('household_roster');
          roster.update(hr.list());
          c3.setSources(c, [{ view: hr }]);
        }
        return draw(pieEl, {
          title: { text: t('chart.residence'), subtext: row && pie.length === 0 ? t('withheld') : '', left: 0,
            textStyle: { fontSize: 13 } },
          tooltip: { trigger: 'item' },
          legend: { bottom: 0 },
          series: [{ type: 'pie', radius: ['35%', '62%'], center: ['50%', '52%'], showEmptyCircle: false, data: pie,
            label: { formatter: '{c}' } }],
        });
      },
    };
  },
};

function memberNames(r, which, withRelation = false) {
  const s = field(r, 'members');
  if (s.state !== 'ok') return cellOf(s);
  const ms = (s.v || []).filter(which);
  const text = ms.map((m) => {
    const name = m.name ?? '—';
    return withRelation ? `${name}（${enumLabel('relation', m.relation_to_head)}）` : name;
  }).join('、');
  return { text, sort: text, cls: s.masked ? 'masked' : undefined, title: s.masked ? t('masked') : undefined };
}

// ---------------------------------------------------------------- development & reform

export const drc = {
  id: 'drc',
  // pending_approvals is keyed by department: read whole, filtered here by
  // the applicant's org path.
  feeds: () => ['pending_approvals', 'project_pipeline'],
  build(root, ctx) {
    const a = card(t('sec.pending'), { id: 'pending_approvals', wide: true });
    const pending = new SortTable([
      { id: 'dept', label: t('col.department'), cell: (r) => (/^\d/.test(keyPart(r, 0)) ? orgCell(ctx, keyPart(r, 0)) : keyPart(r, 0)) },
      { id: 'project', label: t('col.project'), cell: (r) => lastPart(r) },
      { id: 'title', label: t('col.title'), cell: (r) => strCell(r, 'title') },
      { id: 'applicant', label: t('col.applicant'), cell: (r) => orgCell(ctx, field(r, 'applicant_org').v || '') },
      { id: 'stage', label: t('col.stage'), cell: (r) => enumCell(r, 'stage', 'stage') },
      { id: 'rev', label: t('col.revision'), num: true, cell: (r) => numCell(r, 'revision') },
      { id: 'since', label: t('col.since'), cell: (r) => timeCell(r, 'since') },
      { id: 'waiting', label: t('col.waiting'), num: true, cell: (r) => {
        const since = ts(r, 'since');
        if (since === null) return { text: '', sort: null };
        const d = (ctx.now - since) / DAY_MS;
        return { text: fmtNum(d, 1), sort: d, cls: d > 5 ? 'alert' : undefined };
      } },
    ], { sort: ['waiting', 'desc'] });
    a.body.append(pending.el);

    const b = card(t('sec.returned'), { id: 'returned' });
    const returned = h('ul', { class: 'plain-list' });
    b.body.append(returned);

    const c3 = card(t('sec.pipeline'), { id: 'project_pipeline', wide: true });
    const pipeline = new SortTable([
      { id: 'applicant', label: t('col.applicant'), cell: (r) => orgCell(ctx, orgOf(r.key)) },
      { id: 'project', label: t('col.project'), cell: (r) => lastPart(r) },
      { id: 'title', label: t('col.title'), cell: (r) => strCell(r, 'title') },
      { id: 'status', label: t('col.status'), cell: (r) => {
        const c = enumCell(r, 'status', 'projectStatus');
        const v = field(r, 'status').v;
        return v === 'RETURNED' || v === 'REJECTED' ? { ...c, cls: 'alert' } : c;
      } },
      { id: 'rev', label: t('col.revision'), num: true, cell: (r) => numCell(r, 'revision') },
      { id: 'days', label: t('col.workingDays'), num: true, cell: (r) => numCell(r, 'working_days_used') },
      { id: 'pending', label: t('col.pendingAt'), cell: (r) => asks(ctx, field(r, 'pending').v) },
      { id: 'missing', label: t('col.missingItems'), cell: (r) => (field(r, 'missing_items').v || []).join('、') },
      { id: 'investment', label: t('col.investment'), num: true, cell: (r) => numCell(r, 'investment_fen', yuan) },
      { id: 'declared', label: t('col.declared'), cell: (r) => timeCell(r, 'declared_at') },
    ], { sort: ['days', 'desc'], rowClass: (r) => (field(r, 'status').v === 'RETURNED' ? 'alert-row' : undefined) });
    c3.body.append(pipeline.el);
    root.append(a.el, b.el, c3.el);

    return {
      update(c) {
        const pa = c.view('pending_approvals');
        const pp = c.view('project_pipeline');
        pending.update(c.rowsUnder('pending_approvals', 'applicant_org'));
        const projects = pp.list();
        pipeline.update(projects);
        clear(returned);
        const back = projects.filter((r) => field(r, 'status').v === 'RETURNED');
        for (const r of back) {
          const [, v] = body(r);
          returned.append(h('li', {},
            h('strong', { text: `${v.title || lastPart(r)} ` }), orgLabel(c, orgOf(r.key)),
            v.returned_by ? h('span', { class: 'muted', text: ` ← ${asks(c, [v.returned_by])}` }) : null,
            h('div', { class: 'missing', text: `${t('col.missingItems')}: ${(v.missing_items || []).join('、') || '—'}` })));
        }
        if (back.length === 0) returned.append(h('li', { class: 'muted', text: t('empty') }));
        a.setSources(c, [{ view: pa, field: 'applicant_org' }]);
        b.setSources(c, [{ view: pp }]);
        c3.setSources(c, [{ view: pp }]);
      },
    };
  },
};

function asks(ctx, list) {
  return (list || []).map((p) => {
    const dept = p.department || '';
    const who = /^\d/.test(dept) ? (ctx.names.get(dept) || dept) : dept;
    return `${enumLabel('stage', p.stage)} · ${who}`;
  }).join('；');
}

// ---------------------------------------------------------------- forms

export const forms = {
  id: 'forms',
  // form_completion is keyed by task: read whole, filtered by org path here.
  feeds: () => ['form_completion'],
  build(root, ctx) {
    let chosen = ''; // '' = today's task
    const select = h('select', { id: 'form-task', onchange: () => { chosen = select.value; ctx.redraw(); } });
    const a = card(t('sec.formTask'), { id: 'form_completion', wide: true });
    const gaugeEl = h('div', { class: 'chart' });
    const stats = h('dl', { class: 'facts' });
    const missingList = h('ul', { class: 'plain-list', data: { list: 'not-submitted' } });
    a.body.append(h('label', { class: 'inline' }, `${t('task')} `, select),
      h('div', { class: 'split' }, gaugeEl, h('div', {}, stats, h('h3', { text: t('sec.notSubmitted') }), missingList)));
    const b = card(t('chart.tasks'), { id: 'form_tasks', wide: true });
    const barEl = h('div', { class: 'chart' });
    b.body.append(barEl);
    const c3 = card(t('sec.formRows'), { id: 'form_rows', wide: true });
    const rows = new SortTable([
      { id: 'unit', label: t('col.unit'), cell: (r) => orgCell(ctx, field(r, 'org_path').v || orgOf(r.key.split('#')[1] || '')) },
      { id: 'status', label: t('col.status'), cell: (r) => {
        const v = field(r, 'status').v;
        return { text: enumLabel('formStatus', v), sort: v, cls: v === 'MISSING' ? 'alert' : v === 'LATE' ? 'warn' : undefined };
      } },
      { id: 'due', label: t('col.due'), cell: (r) => timeCell(r, 'due') },
      { id: 'submitted', label: t('col.submittedAt'), cell: (r) => timeCell(r, 'submitted_at') },
      { id: 'submissions', label: t('col.submissions'), num: true, cell: (r) => numCell(r, 'submissions') },
    ], { sort: ['status', 'asc'] });
    c3.body.append(rows.el);
    root.append(a.el, b.el, c3.el);

    return {
      update(c) {
        const fc = c.view('form_completion');
        const all = c.rowsUnder('form_completion', 'org_path');
        const byTask = new Map();
        for (const r of all) {
          const task = formTaskOf(r);
          if (!byTask.has(task)) byTask.set(task, []);
          byTask.get(task).push(r);
        }
        const dueOf = (task) => Math.max(...byTask.get(task).map((r) => ts(r, 'due') ?? 0));
        const tasks = [...byTask.keys()].sort((x, y) => dueOf(y) - dueOf(x) || (x < y ? 1 : -1));
        const today = todaysTask(all, c.now);
        const task = chosen && byTask.has(chosen) ? chosen : today;
        const sig = `${task}|${tasks.join(',')}`;
        if (select.dataset.sig !== sig) {
          select.dataset.sig = sig;
          clear(select);
          for (const tk of tasks) {
            select.append(h('option', { value: tk, selected: tk === task }, `${tk} · ${fmtTime(new Date(dueOf(tk)).toISOString())}`));
          }
        }
        const mine = byTask.get(task) || [];
        const status = (r) => field(r, 'status').v;
        const n = (pred) => mine.filter((r) => pred(status(r))).length;
        const submitted = n((s) => SUBMITTED.has(s));
        clear(stats);
        for (const [label, value, cls] of [
          [enumLabel('formStatus', 'SUBMITTED'), n((s) => s === 'SUBMITTED')],
          [enumLabel('formStatus', 'LATE'), n((s) => s === 'LATE'), 'warn'],
          [enumLabel('formStatus', 'MISSING'), n((s) => s === 'MISSING'), 'alert'],
          [enumLabel('formStatus', 'PENDING'), n((s) => s === 'PENDING')],
        ]) stats.append(h('dt', { text: label }), h('dd', { class: value ? cls : undefined, text: String(value) }));
        clear(missingList);
        for (const r of mine.filter((x) => NOT_SUBMITTED.has(status(x)))) {
          missingList.append(h('li', { data: { org: field(r, 'org_path').v || '' } },
            orgLabel(c, field(r, 'org_path').v || ''), ' ',
            h('span', { class: status(r) === 'MISSING' ? 'tag alert' : 'tag', text: enumLabel('formStatus', status(r)) })));
        }
        if (!missingList.firstChild) missingList.append(h('li', { class: 'muted', text: t('empty') }));
        rows.update(mine);
        a.setSources(c, [{ view: fc, field: 'org_path' }]);
        b.setSources(c, [{ view: fc, field: 'org_path' }]);
        c3.setSources(c, [{ view: fc, field: 'org_path' }]);

        const recent = tasks.slice(0, 14).reverse();
        const count = (tk, pred) => byTask.get(tk).filter((r) => pred(status(r))).length;
        const ratio = mine.length ? submitted / mine.length : 0;
        return Promise.all([
          draw(gaugeEl, {
            series: [{
              type: 'gauge', min: 0, max: 100, progress: { show: true, width: 14 },
              axisLine: { lineStyle: { width: 14 } }, pointer: { show: false },
              axisTick: { show: false }, splitLine: { show: false }, axisLabel: { show: false },
              title: { offsetCenter: [0, '35%'], fontSize: 13 },
              detail: { offsetCenter: [0, '-5%'], fontSize: 26, formatter: '{value}%' },
              data: [{ value: Math.round(ratio * 1000) / 10, name: `${submitted} / ${mine.length}` }],
            }],
          }),
          draw(barEl, {
            legend: { top: 0 },
            grid: { left: 40, right: 12, top: 48, bottom: 48 },
            tooltip: { trigger: 'axis' },
            xAxis: { type: 'category', data: recent, axisLabel: { rotate: 30 } },
            yAxis: { type: 'value', minInterval: 1 },
            series: [
              ['SUBMITTED', COLORS[3]], ['LATE', COLORS[2]], ['MISSING', COLORS[1]], ['PENDING', COLORS[6]],
            ].map(([s, color]) => ({
              name: enumLabel('formStatus', s), type: 'bar', stack: 'all', itemStyle: { color },
              data: recent.map((tk) => count(tk, (x) => x === s)),
            })),
          }),
        ]);
      },
    };
  },
};

// ---------------------------------------------------------------- devices

export const devices = {
  id: 'devices',
  feeds: () => ['device_gaps'],
  build(root, ctx) {
    let showAll = false;
    const a = card(t('sec.devices'), { id: 'device_gaps', wide: true });
    const toggle = h('input', { type: 'checkbox', id: 'devices-all', onchange: () => { showAll = toggle.checked; ctx.redraw(); } });
    const table = new SortTable([
      { id: 'unit', label: t('col.unit'), cell: (r) => orgCell(ctx, orgOf(r.key)) },
      { id: 'device', label: t('col.device'), cell: (r) => lastPart(r) },
      { id: 'received', label: t('col.received'), num: true, cell: (r) => numCell(r, 'received') },
      { id: 'highest', label: t('col.highest'), num: true, cell: (r) => numCell(r, 'highest_seq') },
      { id: 'missing', label: t('col.missingCount'), num: true, cell: (r) => {
        const c = numCell(r, 'missing_count');
        return c.sort > 0 ? { ...c, cls: 'alert' } : c;
      } },
      { id: 'seqs', label: t('col.missingSeqs'), cell: (r) => {
        const s = field(r, 'missing');
        if (s.state !== 'ok') return cellOf(s);
        const list = s.v || [];
        return list.slice(0, 12).join(', ') + (list.length > 12 ? ', …' : '');
      } },
      { id: 'seen', label: t('col.lastSeen'), cell: (r) => timeCell(r, 'last_seen') },
      { id: 'rejected', label: t('col.rejected'), num: true, cell: (r) => {
        const c = numCell(r, 'rejected');
        return c.sort > 0 ? { ...c, cls: 'alert' } : c;
      } },
    ], { sort: ['missing', 'desc'] });
    a.body.append(h('label', { class: 'inline' }, toggle, ` ${t('sec.allDevices')}`), table.el);
    root.append(a.el);
    return {
      update(c) {
        const dg = c.view('device_gaps');
        table.update(dg.list().filter((r) => showAll || num(r, 'missing_count').v > 0));
        a.setSources(c, [{ view: dg }]);
      },
    };
  },
};

// ---------------------------------------------------------------- incidents

export const incidents = {
  id: 'incidents',
  // The board is keyed by the unit whose turn it is (often a county
  // department): read whole and filtered by the incident's grid here. The
  // statistics are read for this unit only ("<org>#…").
  feeds: () => ['incident_board', 'incident_stats'],
  build(root, ctx) {
    const r1 = card(t('sec.rates'), { id: 'incident_rates', wide: true });
    const tiles = h('div', { class: 'tiles' });
    const lineEl = h('div', { class: 'chart' });
    r1.body.append(h('div', { class: 'split' }, tiles, lineEl));
    const a = card(t('sec.board'), { id: 'incident_board', wide: true });
    const board = new SortTable([
      { id: 'unit', label: t('col.unit'), cell: (r) => orgCell(ctx, keyPart(r, 0)) },
      { id: 'dept', label: t('col.department'), cell: (r) => (keyPart(r, 1) === '-' ? '' : keyPart(r, 1)) },
      { id: 'incident', label: t('col.incident'), cell: (r) => lastPart(r) },
      { id: 'grid', label: t('col.grid'), cell: (r) => orgCell(ctx, field(r, 'org_path').v || '') },
      { id: 'category', label: t('col.category'), cell: (r) => strCell(r, 'category') },
      { id: 'urgency', label: t('col.urgency'), cell: (r) => {
        const c = enumCell(r, 'urgency', 'urgency');
        return { ...c, cls: `urgency-${String(field(r, 'urgency').v || '').toLowerCase()}` };
      } },
      { id: 'source', label: t('col.source'), cell: (r) => enumCell(r, 'source', 'source') },
      { id: 'state', label: t('col.state'), cell: (r) => enumCell(r, 'state', 'incidentState') },
      { id: 'reported', label: t('col.reported'), cell: (r) => timeCell(r, 'reported_at') },
      { id: 'due', label: t('col.due'), cell: (r) => timeCell(r, 'due') },
      { id: 'overdue', label: t('col.overdue'), num: true, cell: (r) => {
        if (field(r, 'overdue').v !== true) return { text: '', sort: 0 };
        const m = num(r, 'minutes_overdue').v || 0;
        return { text: fmtMinutes(m), sort: m, cls: 'alert' };
      } },
      { id: 'returns', label: t('col.returns'), num: true, cell: (r) => numCell(r, 'returns') },
      { id: 'redispatches', label: t('col.redispatches'), num: true, cell: (r) => numCell(r, 'redispatches') },
      { id: 'urged', label: t('col.urged'), num: true, cell: (r) => numCell(r, 'urged') },
      { id: 'escalations', label: t('col.escalations'), num: true, cell: (r) => numCell(r, 'escalations') },
    ], { sort: ['overdue', 'desc'], rowClass: (r) => (field(r, 'overdue').v === true ? 'alert-row' : undefined) });
    a.body.append(board.el);
    const b = card(t('sec.categories'), { id: 'incident_categories', wide: true });
    const rateCell = (f) => (r) => numCell(r, f, (x) => pct(x));
    const cats = new SortTable([
      { id: 'category', label: t('col.category'), cell: (r) => strCell(r, 'category') },
      { id: 'reported', label: t('col.reportedN'), num: true, cell: (r) => numCell(r, 'reported') },
      { id: 'closed', label: t('col.closed'), num: true, cell: (r) => numCell(r, 'closed') },
      { id: 'resolved', label: t('col.resolved'), num: true, cell: (r) => numCell(r, 'resolved') },
      { id: 'ontime', label: t('col.onTime'), num: true, cell: (r) => numCell(r, 'resolved_on_time') },
      { id: 'rate', label: t('rate.on_time'), num: true, cell: rateCell('on_time_rate') },
      { id: 'verify', label: t('rate.verification'), num: true, cell: rateCell('verification_pass_rate') },
      { id: 'sat', label: t('rate.satisfaction'), num: true, cell: (r) => numCell(r, 'average_satisfaction', (x) => fmtNum(x, 2)) },
      { id: 'hours', label: t('rate.handling'), num: true, cell: (r) => numCell(r, 'average_handling_hours', (x) => fmtNum(x, 1)) },
    ], { sort: ['reported', 'desc'] });
    b.body.append(cats.el);
    root.append(r1.el, a.el, b.el);

    return {
      update(c) {
        const ib = c.view('incident_board');
        const st = c.view('incident_stats');
        board.update(c.rowsUnder('incident_board', 'org_path'));
        // "<org>#<month>" rows are all categories; "<org>#<month>#<cat>" one.
        const mine = st.list().filter((r) => orgOf(r.key) === c.prefix);
        const months = mine.filter((r) => r.key.split('#').length === 2)
          .sort((x, y) => (keyPart(x, 1) < keyPart(y, 1) ? -1 : 1));
        const latest = months[months.length - 1];
        clear(tiles);
        if (latest) {
          const month = keyPart(latest, 1);
          tiles.append(h('p', { class: 'muted', text: t('rate.month', { m: month }) }));
          for (const [label, cell] of [
            [t('rate.on_time'), numCell(latest, 'on_time_rate', pct)],
            [t('rate.verification'), numCell(latest, 'verification_pass_rate', pct)],
            [t('rate.satisfaction'), numCell(latest, 'average_satisfaction', (x) => `${fmtNum(x, 2)} / 5`)],
            [t('rate.handling'), numCell(latest, 'average_handling_hours', (x) => fmtNum(x, 1))],
            [t('col.reportedN'), numCell(latest, 'reported')],
            [t('col.closed'), numCell(latest, 'closed')],
          ]) {
            tiles.append(h('div', { class: 'tile' }, h('span', { class: 'tile-label', text: label }),
              h('span', { class: `tile-value ${cell.cls || ''}`.trim(), title: cell.title, text: cell.text })));
          }
          cats.update(mine.filter((r) => r.key.split('#').length === 3 && keyPart(r, 1) === month));
        } else {
          tiles.append(empty(t('empty')));
          cats.update([]);
        }
        r1.setSources(c, [{ view: st }]);
        a.setSources(c, [{ view: ib, field: 'org_path' }]);
        b.setSources(c, [{ view: st }]);
        const series = (name, f, scale, axis) => ({
          name, type: 'line', yAxisIndex: axis, connectNulls: true,
          data: months.map((r) => {
            const s = num(r, f);
            return s.state === 'ok' ? Math.round(s.v * scale * 100) / 100 : null;
          }),
        });
        return draw(lineEl, {
          title: { text: t('chart.rates'), left: 0, textStyle: { fontSize: 13 } },
          legend: { top: 30, left: 0 },
          tooltip: { trigger: 'axis' },
          grid: { left: 44, right: 44, top: 70, bottom: 28 },
          xAxis: { type: 'category', data: months.map((r) => keyPart(r, 1)) },
          yAxis: [{ type: 'value', min: 0, max: 100, axisLabel: { formatter: '{value}%' } },
            { type: 'value', min: 0, max: 5, splitLine: { show: false } }],
          series: [
            series(t('rate.on_time'), 'on_time_rate', 100, 0),
            series(t('rate.verification'), 'verification_pass_rate', 100, 0),
            series(t('rate.satisfaction'), 'average_satisfaction', 1, 1),
          ],
        });
      },
    };
  },
};

// ---------------------------------------------------------------- assessment

export const assessment = {
  id: 'assessment',
  // The server sends assessors every cadre's row and a cadre only their
  // own, without rank and cutoff: the page shows what comes.
  feeds: () => ['cadre_scoreboard'],
  build(root, ctx) {
    const a = card(t('sec.cadres'), { id: 'cadre_scoreboard', wide: true });
    // Place fields mean something only once the period is closed.
    const closedOnly = (f, fmt) => (r) => {
      const s = num(r, f);
      if (s.state === 'ok' && field(r, 'closed').v !== true) return { text: '', sort: null };
      return cellOf(s, fmt);
    };
    const table = new SortTable([
      { id: 'unit', label: t('col.unit'), cell: (r) => orgCell(ctx, orgOf(r.key)) },
      { id: 'period', label: t('col.period'), cell: (r) => keyPart(r, 1) },
      { id: 'cadre', label: t('col.cadre'), cell: (r) => lastPart(r) },
      { id: 'days', label: t('col.daysScored'), num: true, cell: (r) => numCell(r, 'days_scored') },
      { id: 'avg', label: t('col.dailyAvg'), num: true, cell: (r) => numCell(r, 'daily_average_x10', x10) },
      { id: 'total', label: t('col.total'), num: true, cell: (r) => numCell(r, 'total_x10', x10) },
      { id: 'yearEnd', label: t('col.yearEnd'), num: true, cell: (r) => {
        const has = field(r, 'has_year_end');
        if (has.state !== 'ok') return cellOf(has);
        return has.v ? numCell(r, 'year_end_x10', x10) : { text: '', sort: null };
      } },
      { id: 'closed', label: t('col.closed'), cell: (r) => flag(r, 'closed') },
      { id: 'closedTotal', label: t('col.closedTotal'), num: true, cell: closedOnly('closed_total_x10', x10) },
      { id: 'rank', label: t('col.rank'), num: true, cell: closedOnly('rank') },
      { id: 'cohort', label: t('col.cohort'), num: true, cell: closedOnly('cohort') },
      { id: 'percentile', label: t('col.percentile'), num: true, cell: closedOnly('percentile_permille', (x) => fmtNum(x / 10, 1)) },
      { id: 'band', label: t('col.band'), num: true, cell: closedOnly('rank_band_percent', (x) => (x ? t('band.top', { p: x }) : '—')) },
      { id: 'top', label: t('col.top'), cell: (r) => flag(r, 'top') },
    ], { sort: ['total', 'desc'] });
    const barEl = h('div', { class: 'chart' });
    a.body.append(table.el, barEl);
    root.append(a.el);
    return {
      update(c) {
        const cs = c.view('cadre_scoreboard');
        const rows = cs.list();
        table.update(rows);
        a.setSources(c, [{ view: cs }]);
        const shown = rows.map((r) => [lastPart(r), num(r, 'total_x10')]).filter(([, s]) => s.state === 'ok')
          .sort((x, y) => y[1].v - x[1].v).slice(0, 40);
        return draw(barEl, {
          title: { text: t('chart.cadres'), left: 0, textStyle: { fontSize: 13 } },
          tooltip: { trigger: 'axis' },
          grid: { left: 44, right: 12, top: 48, bottom: 64 },
          xAxis: { type: 'category', data: shown.map(([id]) => id), axisLabel: { rotate: 40 } },
          yAxis: { type: 'value' },
          series: [{ name: t('col.total'), type: 'bar', data: shown.map(([, s]) => s.v / 10) }],
        });
      },
    };
  },
};

// ---------------------------------------------------------------- village income

export const income = {
  id: 'income',
  feeds: () => ['village_income'],
  build(root, ctx) {
    const a = card(t('sec.income'), { id: 'village_income', wide: true });
    const money = (f) => (r) => numCell(r, f, yuan);
    const table = new SortTable([
      { id: 'village', label: t('col.village'), cell: (r) => orgCell(ctx, orgOf(r.key)) },
      { id: 'year', label: t('col.year'), num: true, cell: (r) => numCell(r, 'year', String) },
      { id: 'ytd', label: t('col.operatingYtd'), num: true, cell: money('operating_total_fen') },
      { id: 'last', label: t('col.lastYear'), num: true, cell: money('last_year_same_period_fen') },
      { id: 'growth', label: t('col.growth'), num: true, cell: (r) => (num(r, 'last_year_same_period_fen').v > 0 ? numCell(r, 'growth', pct) : { text: '', sort: null }) },
      { id: 'threshold', label: t('col.threshold'), num: true, cell: money('threshold_fen') },
      { id: 'below', label: t('col.below'), cell: (r) => flag(r, 'below_threshold', true) },
      { id: 'entries', label: t('col.entries'), num: true, cell: (r) => numCell(r, 'entries') },
      { id: 'reversals', label: t('col.reversals'), num: true, cell: (r) => numCell(r, 'reversals') },
    ], { sort: ['ytd', 'asc'], rowClass: (r) => (field(r, 'below_threshold').v === true ? 'alert-row' : undefined) });
    const barEl = h('div', { class: 'chart' });
    a.body.append(table.el, barEl);
    root.append(a.el);
    return {
      update(c) {
        const vi = c.view('village_income');
        // "<village>#<YYYY>" is the year so far; "<village>#<YYYY>-<MM>" a month.
        const years = vi.list().filter((r) => !keyPart(r, 1).includes('-'));
        table.update(years);
        a.setSources(c, [{ view: vi }]);
        const latest = years.reduce((m, r) => Math.max(m, num(r, 'year').v || 0), 0);
        const rows = years.filter((r) => num(r, 'year').v === latest);
        const val = (r, f) => {
          const s = num(r, f);
          return s.state === 'ok' ? s.v / 100 : null;
        };
        return draw(barEl, {
          title: { text: `${t('chart.income')} ${latest || ''}`, left: 0, textStyle: { fontSize: 13 } },
          tooltip: { trigger: 'axis' },
          legend: { top: 0, right: 0 },
          grid: { left: 72, right: 12, top: 48, bottom: 48 },
          xAxis: { type: 'category', data: rows.map((r) => c.names.get(orgOf(r.key)) || orgOf(r.key)) },
          yAxis: { type: 'value' },
          series: [
            { name: t('col.operatingYtd'), type: 'bar', data: rows.map((r) => val(r, 'operating_total_fen')) },
            { name: t('col.threshold'), type: 'line', step: 'middle', data: rows.map((r) => val(r, 'threshold_fen')) },
          ],
        });
      },
    };
  },
};

// ---------------------------------------------------------------- projection health

// Like KurrentDB's projections page: each view's folded position, its lag
// behind the log head and its state, refreshed every few seconds. Served to
// every role, operators included (who may read no rows).
export const ops = {
  id: 'ops',
  feeds: () => [],
  build(root) {
    const a = card(t('sec.projections'), { id: 'projections', wide: true });
    const head = h('p', { class: 'muted', id: 'head-position' });
    const table = new SortTable([
      { id: 'name', label: t('col.name'), cell: (p) => ({ node: h('code', { text: p.name }), sort: p.name }) },
      { id: 'description', label: t('col.description'), cell: (p) => p.description || '' },
      { id: 'position', label: t('col.position'), num: true, cell: (p) => ({ text: p.position || '0', sort: Number(p.position || 0) }) },
      { id: 'lag', label: t('col.lag'), num: true, cell: (p) => {
        const lag = Number(p.lag || 0);
        return { text: String(lag), sort: lag, cls: lag > 0 ? 'warn' : undefined };
      } },
      { id: 'state', label: t('col.viewState'), cell: (p) => ({ text: p.state || '', cls: p.state === 'live' ? 'ok' : 'alert' }) },
    ], { sort: ['name', 'asc'] });
    a.body.append(head, table.el);
    root.append(a.el);
    let timer = null;
    let stopped = false;
    async function refresh() {
      try {
        const r = await listProjections();
        table.update((r.projections || []).map((p) => ({ ...p, key: p.name })));
        head.textContent = t('sec.head', { p: r.head_position || '0' });
        head.classList.remove('alert');
      } catch (e) {
        head.textContent = e.message;
        head.classList.add('alert');
      }
      if (!stopped) timer = setTimeout(refresh, 5000);
    }
    return {
      load: refresh,
      destroy() {
        stopped = true;
        clearTimeout(timer);
      },
    };
  },
};

export const PANELS = { sanitation, civil, drc, forms, devices, incidents, assessment, income, ops };

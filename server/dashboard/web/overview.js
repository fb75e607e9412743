// The leaders' overview: the figures of the screen's org unit, and the units
// one level below it to narrow to. A figure is read from one projection's
// view and says which (data-projection, data-key, data-position; its tooltip
// the gridctl command). Households and residents are the population row of
// the unit itself, never a sum in the page: that row is what the server
// counted and redacted for this caller, and a sum of rows would undo the
// small-count suppression. Findings are summed over grid rows (a grid is a
// row of grid_sanitation) and the card says so.

import { h } from './dom.js';
import { t } from './i18n.js';
import { field, num, numCell, sum, todaysTask, formTaskOf, SUBMITTED } from './model.js';
import { card, kpi, countCell, orgCell } from './ui.js';
import { SortTable } from './table.js';
import { draw } from './charts.js';

const GROUPS = [
  ['population', ['households', 'residents']],
  ['sanitation', ['open_findings', 'overdue_findings', 'overdue_rectifications']],
  ['incidents', ['open_incidents', 'overdue_incidents']],
  ['projects', ['pending_approvals']],
  ['forms', ['forms_submitted', 'forms_missing']],
  ['devices', ['devices_with_gaps']],
];

const plain = (n) => String(n);

export const overview = {
  id: 'overview',
  feeds: () => ['population', 'grid_sanitation', 'rectification_queue', 'incident_board', 'pending_approvals',
    'form_completion', 'device_gaps'],

  build(root, ctx) {
    const k = {};
    const strip = h('div', { class: 'kpi-strip' });
    for (const [group, ids] of GROUPS) {
      const box = h('div', { class: 'kpi-group' }, h('h3', { text: t(`kpi.group.${group}`) }));
      for (const id of ids) {
        k[id] = kpi(id, t(`kpi.${id}`));
        box.append(k[id].el);
      }
      strip.append(box);
    }
    const kids = card(t('sec.children'), { id: 'children', wide: true });
    const barEl = h('div', { class: 'chart' });
    const table = new SortTable([
      { id: 'unit', label: t('col.unit'), cell: (r) => orgCell(ctx, r.path, { link: true }) },
      { id: 'households', label: t('col.households'), num: true, cell: (r) => (r.row ? numCell(r.row, 'households') : null) },
      { id: 'residents', label: t('col.residents'), num: true, cell: (r) => (r.row ? numCell(r.row, 'residents') : null) },
      { id: 'grids', label: t('col.grids'), num: true, cell: (r) => (r.org ? numCell(r.org, 'grids') : null) },
    ], { sort: ['unit', 'asc'] });
    kids.body.append(h('div', { class: 'split' }, table.el, barEl));
    const tree = card(t('chart.treemap'), { id: 'treemap', wide: true });
    const treeEl = h('div', { class: 'chart tall' });
    tree.body.append(treeEl);
    root.append(strip, kids.el, tree.el);

    let childPaths = [];
    const go = (path) => path && ctx.go(path);

    return {
      update(c) {
        setKpis(c, k);
        const pop = c.view('population');
        childPaths = c.children(c.prefix);
        const childRows = childPaths.map((p) => ({ key: p, path: p, row: pop.rows.get(p), org: c.orgRow(p) }));
        table.update(childRows);
        kids.setSources(c, [{ view: pop }, { view: c.view('org_directory') }]);
        tree.setSources(c, [{ view: pop }]);
        const label = (p) => c.names.get(p) || p.split('/').pop();
        const val = (r, f) => {
          const s = r.row ? num(r.row, f) : { state: 'ok', v: 0 };
          return s.state === 'ok' ? s.v : null;
        };
        return Promise.all([
          draw(barEl, {
            title: { text: t('chart.byChild'), left: 0, textStyle: { fontSize: 13 } },
            legend: { top: 0, right: 0 },
            grid: { left: 48, right: 16, top: 44, bottom: 56 },
            tooltip: { trigger: 'axis' },
            xAxis: { type: 'category', data: childRows.map((r) => label(r.path)), axisLabel: { interval: 0, rotate: childRows.length > 6 ? 30 : 0 } },
            yAxis: { type: 'value' },
            series: [
              { name: t('chart.households'), type: 'bar', data: childRows.map((r) => val(r, 'households')) },
              { name: t('chart.residents'), type: 'bar', data: childRows.map((r) => val(r, 'residents')) },
            ],
          }, (p) => go(childPaths[p.dataIndex])),
          draw(treeEl, {
            tooltip: { formatter: (p) => `${p.data?.path || ''} ${p.name}: ${p.value ?? ''}` },
            series: [{
              type: 'treemap', nodeClick: false, roam: false, breadcrumb: { show: false },
              leafDepth: 2, top: 8, left: 8, right: 8, bottom: 8,
              upperLabel: { show: true, height: 22, color: '#1d2733' },
              levels: [{ itemStyle: { borderColor: '#dde3ea', borderWidth: 3, gapWidth: 3 } },
                { itemStyle: { borderColor: '#e8edf3', borderWidth: 1, gapWidth: 1 } }],
              data: treeNodes(c, pop, c.prefix, 2, label),
            }],
          }, (p) => go(p.data?.path)),
        ]);
      },
    };
  },
};

// Nested treemap nodes for the units under `path`, `depth` levels down;
// each node's value is its own population row (a withheld count: left out).
function treeNodes(c, pop, path, depth, label) {
  if (depth === 0) return undefined;
  const out = [];
  for (const p of c.children(path)) {
    const row = pop.rows.get(p);
    const s = row ? num(row, 'residents') : null;
    if (!s || s.state !== 'ok' || s.v <= 0) continue;
    const node = { name: label(p), path: p, value: s.v };
    const kids = treeNodes(c, pop, p, depth - 1, label);
    if (kids && kids.length) node.children = kids;
    out.push(node);
  }
  return out;
}

function setKpis(c, k) {
  const p = c.prefix;
  const pop = c.view('population');
  const row = pop.rows.get(p);
  for (const f of ['households', 'residents']) {
    let cell;
    if (row) cell = numCell(row, f, plain);
    else cell = p === '' ? { text: '—', title: t('breadcrumb.children') } : { text: '0' };
    k[f].set(cell, { view: pop, key: p, note: t('kpi.note.row') });
  }

  const gs = c.view('grid_sanitation');
  const grids = gs.list();
  for (const [id, f] of [['open_findings', 'open_finding_count'], ['overdue_findings', 'overdue_finding_count']]) {
    const s = sum(grids, f);
    k[id].set({ ...countCell(s.value, s.withheld), alert: id === 'overdue_findings' && s.value > 0 },
      { view: gs, key: p, note: t('kpi.note.sumGrids', { n: grids.length }) });
  }

  const rq = c.view('rectification_queue');
  const rqRows = rq.list();
  const overdue = rqRows.filter((r) => num(r, 'days_overdue').v > 0).length;
  k.overdue_rectifications.set({ ...countCell(overdue), alert: overdue > 0 },
    { view: rq, key: p, note: t('kpi.note.rows', { n: rqRows.length }) });

  const ib = c.view('incident_board');
  const inc = c.rowsUnder('incident_board', 'org_path');
  const filter = (f) => (p === '' ? '' : `${f} under ${p}`);
  k.open_incidents.set(countCell(inc.length),
    { view: ib, key: p, feedPrefix: ib.prefix, filter: filter('org_path') });
  const incOverdue = inc.filter((r) => field(r, 'overdue').v === true).length;
  k.overdue_incidents.set({ ...countCell(incOverdue), alert: incOverdue > 0 },
    { view: ib, key: p, feedPrefix: ib.prefix, note: t('kpi.note.rows', { n: inc.length }), filter: filter('org_path') });

  // Projects, not approvals: a project asked of two departments at once is
  // two rows; the key ends with the project id (the id field itself is C1).
  const pa = c.view('pending_approvals');
  const asks = c.rowsUnder('pending_approvals', 'applicant_org');
  const projects = new Set(asks.map((r) => r.key.slice(r.key.lastIndexOf('#') + 1)));
  k.pending_approvals.set(countCell(projects.size),
    { view: pa, key: p, feedPrefix: pa.prefix, note: t('kpi.note.projects', { n: asks.length }), filter: filter('applicant_org') });

  const fc = c.view('form_completion');
  const forms = c.rowsUnder('form_completion', 'org_path');
  const task = todaysTask(forms);
  const mine = forms.filter((r) => formTaskOf(r) === task);
  const status = (r) => field(r, 'status').v;
  const submitted = mine.filter((r) => SUBMITTED.has(status(r))).length;
  const missing = mine.filter((r) => status(r) === 'MISSING').length;
  const pending = mine.filter((r) => status(r) === 'PENDING').length;
  const note = task ? t('kpi.note.task', { task, pending }) : t('kpi.note.noTask');
  const formSrc = { view: fc, key: p, feedPrefix: fc.prefix, note, filter: `${filter('org_path')} task ${task}` };
  k.forms_submitted.set(countCell(submitted), formSrc);
  k.forms_missing.set({ ...countCell(missing), alert: missing > 0 }, formSrc);
  for (const id of ['forms_submitted', 'forms_missing']) k[id].el.querySelector('.kpi-value').dataset.task = task;

  const dg = c.view('device_gaps');
  const devices = dg.list();
  const gaps = devices.filter((r) => num(r, 'missing_count').v > 0).length;
  k.devices_with_gaps.set({ ...countCell(gaps), alert: gaps > 0 },
    { view: dg, key: p, note: t('kpi.note.rows', { n: devices.length }) });
}

// A sortable table: click a header to sort by it, again to reverse. Numbers
// sort as numbers, text in the language's order with digits compared as
// numbers ("g2" before "g10"); withheld values ("<5", "—") sort last either
// way. The sort is kept across live updates.

import { h, clear } from './dom.js';
import { t, lang } from './i18n.js';

const DISPLAY_LIMIT = 500;

// columns: [{id, label, cell(row) → {text, sort, cls, title, node} or a
//            string/number, num (right-aligned, numeric sort)}]
// opts: {sort: [colId, 'asc'|'desc'], rowClass(row), limit, caption}
export class SortTable {
  constructor(columns, opts = {}) {
    this.columns = columns;
    this.opts = opts;
    const [col, dir] = opts.sort || [columns[0].id, 'asc'];
    this.sortCol = col;
    this.sortDir = dir;
    this.rows = [];
    this.thead = h('thead');
    this.tbody = h('tbody');
    this.note = h('p', { class: 'table-note' });
    this.el = h('div', { class: 'table-wrap' },
      h('table', { class: 'data' }, opts.caption ? h('caption', { text: opts.caption }) : null, this.thead, this.tbody),
      this.note);
    this.drawHead();
  }

  drawHead() {
    const tr = h('tr');
    for (const c of this.columns) {
      const active = c.id === this.sortCol;
      const arrow = active ? (this.sortDir === 'asc' ? ' ▲' : ' ▼') : '';
      tr.append(h('th', {
        class: c.num ? 'num' : undefined,
        scope: 'col',
        'aria-sort': active ? (this.sortDir === 'asc' ? 'ascending' : 'descending') : 'none',
        data: { col: c.id },
      }, h('button', { type: 'button', onclick: () => this.sortBy(c.id) }, c.label, arrow)));
    }
    clear(this.thead).append(tr);
  }

  sortBy(id) {
    if (this.sortCol === id) this.sortDir = this.sortDir === 'asc' ? 'desc' : 'asc';
    else {
      this.sortCol = id;
      this.sortDir = this.columns.find((c) => c.id === id)?.num ? 'desc' : 'asc';
    }
    this.drawHead();
    this.drawBody();
  }

  update(rows) {
    this.rows = rows;
    this.drawBody();
  }

  drawBody() {
    const cols = this.columns;
    const items = this.rows.map((row) => ({ row, cells: cols.map((c) => normal(c.cell(row))) }));
    const ci = Math.max(0, cols.findIndex((c) => c.id === this.sortCol));
    const dir = this.sortDir === 'asc' ? 1 : -1;
    const collator = new Intl.Collator(lang() === 'zh' ? 'zh-CN' : 'en', { numeric: true });
    items.sort((a, b) => {
      const x = a.cells[ci].sort;
      const y = b.cells[ci].sort;
      if (x === null && y === null) return collator.compare(a.row.key || '', b.row.key || '');
      if (x === null) return 1;
      if (y === null) return -1;
      const c = typeof x === 'number' && typeof y === 'number' ? x - y : collator.compare(String(x), String(y));
      return c !== 0 ? c * dir : collator.compare(a.row.key || '', b.row.key || '');
    });
    const limit = this.opts.limit || DISPLAY_LIMIT;
    const frag = document.createDocumentFragment();
    for (const { row, cells } of items.slice(0, limit)) {
      const tr = h('tr', { class: this.opts.rowClass?.(row), data: { key: row.key || '' } });
      cells.forEach((c, i) => {
        const cls = [cols[i].num ? 'num' : '', c.cls || ''].join(' ').trim() || undefined;
        tr.append(h('td', { class: cls, title: c.title }, c.node || c.text));
      });
      frag.append(tr);
    }
    clear(this.tbody).append(frag);
    if (items.length === 0) {
      this.tbody.append(h('tr', { class: 'empty' }, h('td', { colspan: cols.length, text: t('empty') })));
    }
    this.note.textContent = items.length > limit ? t('truncated', { n: limit, total: items.length }) : '';
  }
}

// A cell from a plain value, or as given.
function normal(c) {
  if (c === null || c === undefined) return { text: '', sort: null };
  if (typeof c === 'object' && !(c instanceof Node)) {
    return { ...c, text: c.text ?? '', sort: c.sort === undefined ? (c.text ?? '') : c.sort };
  }
  if (c instanceof Node) return { node: c, text: c.textContent, sort: c.textContent };
  return { text: String(c), sort: typeof c === 'number' ? c : String(c) };
}

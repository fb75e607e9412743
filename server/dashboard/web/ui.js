// The pieces every panel is made of: a card with its title, the position its
// view is at, a CSV link per table and a "reproduce" line that gives the
// gridctl command returning exactly those rows; a KPI figure with the test
// hooks (web/README.md); org units shown by name with their code.

import { h, clear } from './dom.js';
import { t, fmtNum } from './i18n.js';
import { csvUrl } from './api.js';

// Shell-quoted only when needed: `--prefix 350583/101`, `--prefix ''`.
function shq(s) {
  return /^[A-Za-z0-9/_.:-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}

export function reproduceCommand(view) {
  const at = view.position ? ` --at ${view.position}` : '';
  return `gridctl projection get ${view.name} --prefix ${shq(view.prefix)}${at} --output json`;
}

// A card. `setSources(ctx, sources)` with sources [{view, field}] ('field':
// the org-path field the page filters rows by, for views read with a wider
// prefix than the screen's) refreshes its position chip, CSV links and
// reproduce lines.
export function card(title, opts = {}) {
  const chip = h('span', { class: 'chip' });
  const links = h('span', { class: 'card-links' });
  const body = h('div', { class: 'card-body' });
  const repro = h('details', { class: 'repro', hidden: true });
  const el = h('section', { class: `card${opts.wide ? ' wide' : ''}`, data: { card: opts.id || '' } },
    h('header', { class: 'card-head' }, h('h2', { text: title }), chip, links), body, repro);
  function setSources(ctx, sources) {
    const views = sources.map((s) => s.view).filter(Boolean);
    const v = views[0];
    if (!v) return;
    const errors = views.filter((x) => x.error);
    if (errors.length) {
      chip.textContent = errors[0].error;
      chip.className = 'chip error';
    } else if (ctx.asOf) {
      chip.textContent = `${t('status.asof')} · ${t('position')} ${v.position ?? ''}`;
      chip.className = 'chip asof';
    } else {
      chip.textContent = `${t(ctx.stopped ? 'status.stopped' : 'status.live')} · ${t('position')} ${v.position ?? '…'}`;
      chip.className = ctx.stopped ? 'chip stopped' : 'chip live';
    }
    chip.title = views.map((x) => `${x.name}: ${x.position ?? '…'}`).join('\n');
    clear(links);
    for (const x of views) {
      links.append(h('a', { class: 'csv', href: csvUrl(x.name, x.prefix, x.position), download: `${x.name}.csv`,
        title: x.name }, `${t('csv')}${views.length > 1 ? ` · ${x.name}` : ''}`));
    }
    repro.hidden = false;
    clear(repro).append(h('summary', { text: t('reproduce') }));
    for (const s of sources) {
      if (!s.view) continue;
      repro.append(h('code', { text: reproduceCommand(s.view) }),
        s.field ? h('span', { class: 'muted', text: ` ${t('reproduce.filter', { field: s.field, p: ctx.prefix || "''" })}` }) : null,
        s.view.truncated ? h('span', { class: 'warn', text: ` ${t('server.truncated')}` }) : null,
        h('br'));
    }
  }
  return { el, body, setSources };
}

// One KPI figure. The number element carries the hooks: data-kpi,
// data-projection, data-key, data-position; its text is the plain number
// (no grouping), "<5" when suppressed, "—" when withheld.
export function kpi(id, label) {
  const value = h('span', { class: 'kpi-value', data: { kpi: id }, text: '…' });
  const note = h('span', { class: 'kpi-note' });
  const el = h('div', { class: 'kpi' }, h('span', { class: 'kpi-label', text: label }), value, note);
  function set(cell, src) {
    value.textContent = cell.text;
    value.className = `kpi-value${cell.cls ? ` ${cell.cls}` : ''}${cell.alert ? ' alert' : ''}`;
    value.title = cell.title || '';
    value.dataset.projection = src.view.name;
    value.dataset.key = src.key;
    value.dataset.position = src.view.position ?? '';
    if (src.feedPrefix !== undefined) value.dataset.feedPrefix = src.feedPrefix;
    else delete value.dataset.feedPrefix;
    note.textContent = src.note || '';
    el.title = `${reproduceCommand(src.view)}${src.filter ? `\n${src.filter}` : ''}`;
  }
  return { el, set };
}

// A KPI cell for a plain count or sum (never suppressed by itself).
export function countCell(n, withheld = false) {
  if (withheld) return { text: '—', cls: 'withheld', title: t('partWithheld') };
  return { text: String(n) };
}

// "溪美街道 350583/101": a unit's name with its code; a link that narrows the
// screen to it when `ctx.go` is given.
export function orgLabel(ctx, path, opts = {}) {
  const name = ctx.names.get(path);
  const code = path === '' ? '' : path;
  const kids = [name ? h('span', { class: 'org-name', text: name }) : null,
    h('span', { class: name ? 'org-code' : 'org-code only', text: opts.short ? code.split('/').pop() : code })];
  if (opts.link && ctx.go && path !== ctx.prefix) {
    return h('a', { class: 'org', href: ctx.hrefFor(path), title: path }, kids);
  }
  return h('span', { class: 'org', title: path }, kids);
}

export function orgCell(ctx, path, opts = {}) {
  const name = ctx.names.get(path) || '';
  return { node: orgLabel(ctx, path, opts), sort: `${path}`, text: `${name} ${path}`.trim() };
}

export function pct(x) {
  return `${fmtNum(x * 100, 1)}%`;
}

export function empty(text) {
  return h('p', { class: 'empty-note', text });
}

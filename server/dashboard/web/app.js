// gridlog's department dashboard: signs in, picks the screens for the
// principal's role, and keeps the current screen's views live (or as of a
// log position). The server applies access control and redaction; the page
// shows what it is sent and says where a number came from.
//
// State lives in the URL fragment (#tab=…&p=<org prefix>&at=<position>), so
// the back button, a reload and a shared link all land on the same view.

import { h, clear } from './dom.js';
import { t, lang, setLang, enumLabel, fmtTime } from './i18n.js';
import { getSession, signIn, logout, ApiError } from './api.js';
import { FeedSet, View, loadAsOf } from './feed.js';
import { field, orgOf, parentOf, under } from './model.js';
import { disposeCharts } from './charts.js';
import { overview } from './overview.js';
import { PANELS } from './panels.js';

const SCREENS = { overview, ...PANELS };
// A live screen takes a fresh snapshot this often (FeedSet.refresh).
const RESNAPSHOT_MS = 10 * 60 * 1000;
const TAB_ORDER = ['overview', 'sanitation', 'civil', 'drc', 'forms', 'devices', 'incidents', 'assessment', 'income', 'ops'];
const AS_OF_MAX_ROWS = 10000;
const CLEARANCE_RANK = { C0_AGGREGATE: 1, C1_INTERNAL: 2, C2_PERSONAL: 3, C3_SENSITIVE: 4, C4_RESTRICTED: 5 };

const $ = (id) => document.getElementById(id);

const state = {
  session: null,
  tabs: { primary: [], more: [] },
  tab: 'overview',
  prefix: '',
  explicitPrefix: false,
  asOf: null,
  feeds: null,
  views: new Map(),
  screen: null,
  ctx: null,
  seq: 0, // bumped whenever the screen is rebuilt; stale async work checks it
  drawn: false,
  connection: 'connecting',
  stopped: false,
  timers: {},
};

function setReady(on) {
  document.body.dataset.ready = on ? '1' : '0';
}

// ---------------------------------------------------------------- banner

// The banner holds one message per kind (dev mode, revoked, disconnected…).
function setBanner(kind, text, action) {
  const box = $('banner');
  let item = box.querySelector(`[data-kind="${kind}"]`);
  if (!text) {
    item?.remove();
    return;
  }
  if (!item) {
    item = h('div', { class: `banner-item ${kind}`, data: { kind } });
    box.append(item);
  }
  clear(item).append(h('span', { text }));
  if (action) item.append(' ', h('button', { type: 'button', onclick: action.run }, action.label));
}

function clearBanners(...kinds) {
  for (const k of kinds) setBanner(k, null);
}

// ---------------------------------------------------------------- roles and tabs

// Departments share one role; their screen is guessed from the principal's
// name (and from `departments` should the session carry them). Whatever is
// not first is under "All views".
const DEPT_HINTS = [
  [/sanit|环卫|城管/, 'sanitation'],
  [/civil|mca|民政|police|公安/, 'civil'],
  [/drc|reform|发改/, 'drc'],
  [/organi[sz]ation|组织/, 'assessment'],
  [/agri|农/, 'income'],
  [/health|卫健|form/, 'forms'],
  [/dispatch|grid-office|综治|water|fire/, 'incidents'],
];

function tabsFor(s) {
  const role = roleOf(s);
  if (role === 'ADMIN') return { primary: ['ops'], more: [] }; // operators read no rows
  let primary;
  switch (role) {
    case 'LEADER': primary = ['overview', 'incidents', 'forms', 'sanitation', 'civil', 'drc']; break;
    case 'VILLAGE_CADRE': primary = ['overview', 'forms', 'incidents', 'assessment', 'income']; break;
    case 'GRID_WORKER': primary = ['overview', 'sanitation', 'civil', 'incidents', 'devices']; break;
    case 'AUDITOR': primary = ['overview', 'incidents', 'assessment', 'ops']; break;
    case 'DEPARTMENT': {
      const name = `${s.principal || ''} ${(s.departments || []).join(' ')}`.toLowerCase();
      const hinted = DEPT_HINTS.filter(([re]) => re.test(name)).map(([, tab]) => tab);
      primary = ['overview', ...new Set(hinted.length ? hinted : ['sanitation', 'civil', 'drc', 'forms', 'incidents'])];
      break;
    }
    default: primary = TAB_ORDER.slice(); // dev mode: everything
  }
  return { primary, more: TAB_ORDER.filter((x) => !primary.includes(x)) };
}

function roleOf(s) {
  return s.dev && !s.role ? 'DEV' : s.role || 'DEV';
}

function clearanceOf(s) {
  return s.dev ? 5 : CLEARANCE_RANK[s.clearance] || 1;
}

function jurisdiction() {
  const j = state.session?.jurisdiction;
  return j && j.length ? j : [''];
}

// The prefix a projection's feed is asked with. Most keys begin with the org
// path; those that begin with a department or a task are read whole (the
// server cuts them to the jurisdiction) and filtered by org path in the
// panel. incident_stats is read for the unit's own rows only.
function feedPrefix(name, prefix) {
  switch (name) {
    case 'pending_approvals':
    case 'form_completion':
    case 'incident_board':
    case 'org_directory': // ancestors' names too, for the breadcrumb
      return '';
    case 'incident_stats':
      return prefix === '' ? '' : `${prefix}#`;
    default:
      return prefix;
  }
}

// ---------------------------------------------------------------- routing

function parseHash() {
  const q = new URLSearchParams(location.hash.slice(1));
  return { tab: q.get('tab'), p: q.get('p'), at: q.get('at') };
}

function hashFor({ tab, p, at }) {
  const q = new URLSearchParams();
  q.set('tab', tab);
  if (p !== null && p !== undefined) q.set('p', p);
  if (at) q.set('at', at);
  return `#${q.toString()}`;
}

function navigate(change, replace = false) {
  const next = hashFor({ tab: state.tab, p: state.prefix, at: state.asOf, ...change });
  if (next === location.hash) return;
  if (replace) {
    history.replaceState(null, '', next);
    applyRoute();
  } else {
    location.hash = next; // hashchange → applyRoute
  }
}

function applyRoute() {
  if (!state.session) return;
  const r = parseHash();
  const allowed = [...state.tabs.primary, ...state.tabs.more];
  state.tab = allowed.includes(r.tab) ? r.tab : state.tabs.primary[0];
  const j = jurisdiction();
  state.explicitPrefix = r.p !== null;
  state.prefix = r.p !== null ? r.p : j.length === 1 ? j[0] : '';
  state.asOf = r.at && /^[1-9]\d*$/.test(r.at) ? r.at : null;
  openScreen();
}

// ---------------------------------------------------------------- screens

function stopData() {
  state.feeds?.stop();
  state.feeds = null;
  state.screen?.destroy?.();
  state.screen = null;
  for (const id of Object.values(state.timers)) clearTimeout(id);
  state.timers = {};
  disposeCharts();
}

function makeCtx() {
  const ctx = {
    prefix: state.prefix,
    asOf: state.asOf,
    session: state.session,
    clearance: clearanceOf(state.session),
    stopped: false,
    now: Date.now(),
    names: new Map(),
    view: (name) => state.views.get(name) || new View(name, feedPrefix(name, state.prefix)),
    // Rows of a view read with a wider prefix, kept when the org path in
    // field `f` (else the key's) is the screen's unit or below it.
    rowsUnder(name, f) {
      return ctx.view(name).list().filter((r) => {
        const s = field(r, f);
        return under(s.state === 'ok' && s.v ? s.v : orgOf(r.key), ctx.prefix);
      });
    },
    orgRow: (path) => ctx.view('org_directory').rows.get(path),
    children: (path) => childrenOf(ctx, path),
    go: (path) => navigate({ p: path }),
    hrefFor: (path) => hashFor({ tab: state.tab, p: path, at: state.asOf }),
    redraw: () => scheduleRender(true),
  };
  return ctx;
}

// The units one level below `path`, from org_directory (and population, for
// units without a name). Above a jurisdiction of several units, those units.
function childrenOf(ctx, path) {
  const j = jurisdiction();
  if (path === '' && !j.includes('')) return j.slice().sort();
  const out = new Set();
  for (const name of ['org_directory', 'population']) {
    for (const [k, r] of ctx.view(name).rows) {
      if (k.includes('#') || parentOf(k) !== path || k === path) continue;
      if (name === 'org_directory' && field(r, 'recoded_to').v) continue; // a code no longer used
      out.add(k);
    }
  }
  const collator = new Intl.Collator('en', { numeric: true });
  return [...out].sort(collator.compare);
}

async function openScreen() {
  const my = ++state.seq;
  setReady(false);
  stopData();
  state.views = new Map();
  state.drawn = false;
  state.stopped = false;
  clearBanners('ended', 'closed', 'disconnected', 'feed', 'unreachable');
  setBanner('asof', state.asOf ? t('asof.banner', { p: state.asOf }) : null);
  const ctx = makeCtx();
  state.ctx = ctx;
  renderTabs();
  renderChrome();

  const def = buildScreen(ctx);

  if (def.id === 'ops') {
    state.connection = 'live';
    renderStatus();
    await state.screen.load();
    if (my === state.seq) setReady(true);
    return;
  }

  const names = [...new Set([...def.feeds(ctx), 'org_directory'])];
  const specs = names.map((name) => ({ name, prefix: feedPrefix(name, state.prefix) }));
  if (state.asOf) {
    state.connection = 'asof';
    renderStatus();
    const views = await loadAsOf(specs, state.asOf, AS_OF_MAX_ROWS);
    if (my !== state.seq) return;
    if (views.some((v) => v.signedOut)) {
      showSignIn(t('banner.closed'));
      return;
    }
    for (const v of views) state.views.set(v.name, v);
    await render();
    return;
  }
  const feeds = new FeedSet(specs, {
    change: (rowsMoved) => scheduleRender(rowsMoved),
    state: (s) => {
      state.connection = s;
      setBanner('disconnected', s === 'reconnecting' ? t('banner.disconnected') : null);
      renderStatus();
    },
    ended: (code, message) => {
      state.stopped = true;
      ctx.stopped = true;
      state.connection = 'stopped';
      setBanner('ended', t('banner.ended', { code, msg: message }));
      scheduleRender(true);
    },
    closed: () => onFeedClosed(my),
  });
  state.feeds = feeds;
  for (const v of feeds.views) state.views.set(v.name, v);
  feeds.start();
  const refresh = () => {
    state.timers.refresh = setTimeout(() => {
      if (my !== state.seq || state.stopped) return;
      feeds.refresh();
      refresh();
    }, RESNAPSHOT_MS);
  };
  refresh();
}

// Lays out the tab's cards (empty until render fills them).
function buildScreen(ctx) {
  state.screen?.destroy?.();
  disposeCharts();
  const def = SCREENS[state.tab];
  const root = clear($('panels'));
  root.dataset.screen = def.id;
  state.screen = def.build(root, ctx);
  return def;
}

// The EventSource gave up (an HTTP error on reconnect): signed out, or no
// longer allowed. Which one, the session says.
async function onFeedClosed(my) {
  state.connection = 'stopped';
  renderStatus();
  let s = null;
  try {
    s = await getSession();
  } catch {
    // Unreachable: treat as closed below.
  }
  if (my !== state.seq) return;
  if (!s) {
    showSignIn(t('banner.closed'));
    return;
  }
  setBanner('closed', t('banner.denied'), { label: t('retry'), run: () => openScreen() });
}

// Row changes are drawn promptly. A quiet feed still moves its position once
// a second; the header chip follows that each second, the panels (whose
// numbers stay true at the position they show) every few seconds, so that a
// large table is not rebuilt every second for nothing.
function scheduleRender(rowsMoved) {
  if (!state.timers.status) {
    state.timers.status = setTimeout(() => {
      state.timers.status = null;
      renderStatus();
    }, 1000);
  }
  const key = rowsMoved ? 'rows' : 'position';
  if (state.timers[key]) return;
  state.timers[key] = setTimeout(() => {
    state.timers[key] = null;
    render();
  }, rowsMoved ? 80 : 5000);
}

async function render() {
  const my = state.seq;
  const ctx = state.ctx;
  if (!ctx || !state.screen?.update) return;
  ctx.now = Date.now();
  refreshNames(ctx);
  if (maybeDescend(ctx)) return;
  renderChrome();
  const complete = state.asOf || !state.feeds || state.feeds.complete();
  // Until every view has its first snapshot nothing is drawn: a half-read
  // screen would show zeros that are not.
  if (!complete && !state.drawn) return;
  state.drawn = true;
  // One line per distinct error: a refused read usually refuses every view.
  const errors = new Map();
  for (const v of state.views.values()) {
    if (v.error && !state.stopped) errors.set(v.error, [...(errors.get(v.error) || []), v.name]);
  }
  setBanner('feed', errors.size ? [...errors].map(([msg, names]) => t('banner.feedError', { name: names.join(', '), msg })).join(' · ') : null);
  await state.screen.update(ctx);
  if (my !== state.seq) return;
  setReady(state.asOf || !state.feeds || state.feeds.complete());
}

function refreshNames(ctx) {
  ctx.names.clear();
  for (const [k, r] of ctx.view('org_directory').rows) {
    const n = field(r, 'name').v;
    if (n) ctx.names.set(k, n);
  }
}

// A principal of the whole network with a single county is taken straight
// to it (unless the URL chose a level).
function maybeDescend(ctx) {
  if (state.explicitPrefix || state.prefix !== '' || !ctx.view('org_directory').ready) return false;
  const kids = ctx.children('');
  if (kids.length !== 1) return false;
  navigate({ p: kids[0] }, true);
  return true;
}

// ---------------------------------------------------------------- chrome

// Tabs are drawn when the screen opens; the rest on each render, but only
// rebuilt when what they show changed, so that an open menu or select is not
// closed under the user's pointer by a live update.
function renderChrome() {
  renderWho();
  renderBreadcrumb();
  renderAsOf();
  renderStatus();
}

// Whether `el` already shows `sig`; records it if not.
function unchanged(el, sig) {
  if (el.dataset.sig === sig) return true;
  el.dataset.sig = sig;
  return false;
}

function renderWho() {
  const s = state.session;
  const who = $('who');
  if (!s) return;
  const names = state.ctx?.names || new Map();
  const juris = jurisdiction().map((j) => (j === '' ? t('jurisdiction.all') : names.get(j) ? `${names.get(j)} ${j}` : j)).join('，');
  if (unchanged(who, `${lang()}|${s.principal}|${juris}`)) return;
  clear(who);
  const item = (label, value, id) => h('span', { class: 'who-item', id }, h('span', { class: 'who-label', text: label }), value);
  who.append(
    item(t('principal'), s.principal || '—', 'who-principal'),
    item(t('role'), enumLabel('role', roleOf(s)), 'who-role'),
    item(t('clearance'), s.dev ? 'C4' : enumLabel('clearance', s.clearance || 'C0_AGGREGATE'), 'who-clearance'),
    item(t('jurisdiction'), juris, 'who-jurisdiction'));
  who.title = s.expires_at ? `${t('expires')} ${fmtTime(s.expires_at)}` : '';
}

function renderTabs() {
  const nav = clear($('tabs'));
  const link = (id) => h('a', {
    href: hashFor({ tab: id, p: state.prefix, at: state.asOf }),
    class: id === state.tab ? 'tab active' : 'tab',
    'aria-current': id === state.tab ? 'page' : undefined,
    data: { tab: id },
  }, t(`tab.${id}`));
  for (const id of state.tabs.primary) nav.append(link(id));
  if (state.tabs.more.length) {
    const open = state.tabs.more.includes(state.tab);
    const menu = h('details', { class: 'more', id: 'all-views' },
      h('summary', { class: open ? 'tab active' : 'tab' }, `${t('menu.all')}${open ? ` · ${t(`tab.${state.tab}`)}` : ''} ▾`),
      h('div', { class: 'menu' }, state.tabs.more.map(link)));
    nav.append(menu);
  }
}

function renderBreadcrumb() {
  const bc = $('breadcrumb');
  const bar = $('scope-bar');
  bar.hidden = state.tab === 'ops';
  const ctx = state.ctx;
  if (!ctx || state.tab === 'ops') return;
  const kids = ctx.children(state.prefix);
  const named = (p) => `${p}=${ctx.names.get(p) || ''}`;
  if (unchanged(bc, [lang(), state.tab, state.asOf, state.prefix, ...state.prefix.split('/').map((_, i, a) => named(a.slice(0, i + 1).join('/'))),
    ...kids.map(named)].join('|'))) return;
  clear(bc);
  const j = jurisdiction();
  const crumbs = [];
  if (j.length > 1 || j[0] === '') crumbs.push(['', t('breadcrumb.root')]);
  const segs = state.prefix === '' ? [] : state.prefix.split('/');
  segs.forEach((_, i) => {
    const path = segs.slice(0, i + 1).join('/');
    if (j.some((x) => under(path, x))) crumbs.push([path, ctx.names.get(path) || path.split('/').pop()]);
  });
  const ol = h('ol');
  crumbs.forEach(([path, label], i) => {
    const last = i === crumbs.length - 1;
    ol.append(h('li', {}, last
      ? h('span', { class: 'current', 'aria-current': 'location', title: path, data: { prefix: path } }, label)
      : h('a', { href: ctx.hrefFor(path), title: path, data: { prefix: path } }, label)));
  });
  bc.append(ol);
  if (kids.length) {
    const sel = h('select', { id: 'children', 'aria-label': t('breadcrumb.children'),
      onchange: () => sel.value && navigate({ p: sel.value }) },
    h('option', { value: '' }, t('breadcrumb.children')),
    kids.map((k) => h('option', { value: k }, ctx.names.get(k) ? `${ctx.names.get(k)} ${k}` : k)));
    bc.append(sel);
  }
}

function renderAsOf() {
  const input = $('asof');
  if (document.activeElement !== input) input.value = state.asOf || '';
  $('live').disabled = !state.asOf;
}

function renderStatus() {
  const chip = $('status');
  const views = [...state.views.values()].filter((v) => v.position !== null);
  // Everything on the screen is complete through the smallest position.
  const pos = views.length ? views.map((v) => Number(v.position)).reduce((a, b) => Math.min(a, b)) : null;
  let text;
  let cls = state.connection;
  if (state.tab === 'ops') {
    text = t('tab.ops');
    cls = 'live';
  } else if (state.asOf) text = `${t('status.asof')} · ${t('position')} ${state.asOf}`;
  else if (state.stopped || state.connection === 'stopped') text = t('status.stopped');
  else text = `${t(`status.${state.connection}`)}${pos !== null ? ` · ${t('position')} ${pos}` : ''}`;
  chip.textContent = text;
  chip.className = `chip ${cls}`;
  chip.dataset.position = pos ?? '';
}

// Static labels of index.html.
function applyStaticText() {
  document.documentElement.lang = lang() === 'zh' ? 'zh-CN' : 'en';
  document.title = `${t('product')} · ${t('subtitle')}`;
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of document.querySelectorAll('[data-i18n-label]')) el.setAttribute('aria-label', t(el.dataset.i18nLabel));
  $('lang').textContent = t('lang.other');
}

// ---------------------------------------------------------------- session

function showSignIn(message) {
  delete $('who').dataset.sig;
  delete $('breadcrumb').dataset.sig;
  stopData();
  state.seq++;
  state.session = null;
  state.ctx = null;
  state.views = new Map();
  setReady(false);
  clearBanners('dev', 'asof', 'ended', 'disconnected', 'feed', 'unreachable');
  setBanner('closed', message || null);
  $('app-view').hidden = true;
  $('signin-view').hidden = false;
  $('logout').hidden = true;
  clear($('who'));
  $('status').textContent = '';
  $('status').className = 'chip';
  $('signin-error').textContent = '';
  $('token').focus();
}

function startApp(session) {
  state.session = session;
  state.tabs = tabsFor(session);
  $('signin-view').hidden = true;
  $('app-view').hidden = false;
  $('logout').hidden = Boolean(session.dev);
  clearBanners('closed');
  setBanner('dev', session.dev ? t('banner.dev') : null);
  applyRoute();
}

async function boot() {
  setReady(false);
  applyStaticText();
  let session;
  try {
    session = await getSession();
  } catch (e) {
    setBanner('unreachable', t('banner.unreachable', { msg: e.message }), { label: t('retry'), run: boot });
    return;
  }
  clearBanners('unreachable');
  if (session) startApp(session);
  else showSignIn();
}

function wire() {
  $('signin-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const token = $('token').value.trim();
    const err = $('signin-error');
    err.textContent = '';
    if (!token) return;
    $('signin').disabled = true;
    try {
      const s = await signIn(token);
      $('token').value = '';
      startApp(s);
    } catch (ex) {
      err.textContent = `${t('signin.failed')}: ${ex instanceof ApiError && ex.status === 0 ? t('banner.unreachable', { msg: ex.message }) : ex.message}`;
    } finally {
      $('signin').disabled = false;
    }
  });
  $('logout').addEventListener('click', async () => {
    try {
      await logout();
    } catch {
      // The cookie is cleared by the server; if it could not be reached the
      // session ends at its expiry. Either way this page is signed out.
    }
    showSignIn();
  });
  $('lang').addEventListener('click', () => {
    setLang(lang() === 'zh' ? 'en' : 'zh');
    applyStaticText();
    if (state.session && state.ctx) {
      // Labels are built into the cards: lay them out again and redraw from
      // the views already held (the feeds go on).
      setBanner('dev', state.session.dev ? t('banner.dev') : null);
      setBanner('asof', state.asOf ? t('asof.banner', { p: state.asOf }) : null);
      setReady(false);
      const def = buildScreen(state.ctx);
      renderTabs();
      renderChrome();
      if (def.id === 'ops') state.screen.load().then(() => setReady(true));
      else {
        state.drawn = false;
        render();
      }
    }
  });
  $('asof-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const v = $('asof').value.trim();
    if (!/^[1-9]\d*$/.test(v)) {
      $('asof').setCustomValidity(t('asof.bad'));
      $('asof').reportValidity();
      return;
    }
    $('asof').setCustomValidity('');
    navigate({ at: v });
  });
  $('asof').addEventListener('input', () => $('asof').setCustomValidity(''));
  $('live').addEventListener('click', () => navigate({ at: null }));
  window.addEventListener('hashchange', applyRoute);
}

wire();
boot();

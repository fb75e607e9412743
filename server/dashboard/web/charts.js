// Charts with the vendored ECharts bundle (vendor/README.md), loaded on first
// use so that tables never wait for it. CSP: the canvas renderer draws
// everything on a canvas; the tooltip is drawn there too (renderMode
// 'richText') because ECharts' HTML tooltip sets its markup, inline styles
// included, with innerHTML, which the page's style-src refuses. Labels are
// canvas text, so names from the log are never parsed as markup.

import { lang } from './i18n.js';

let lib = null;
const live = new Set();

export function loadCharts() {
  lib ??= import('/vendor/echarts.min.js');
  return lib;
}

export const COLORS = ['#1f5fa8', '#c7000b', '#e6a23c', '#2e8b57', '#7b5ea7', '#3aa3c9', '#8c8c8c'];

const BASE = {
  animation: false, // live data redraws often; a replayed animation per change only distracts
  color: COLORS,
  textStyle: { fontFamily: 'system-ui, "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif' },
  tooltip: { renderMode: 'richText', confine: true },
};

// Draws `option` into `el` (replacing what was there). `onClick(params)` is
// bound once, when the chart is made. Resolves to the chart, or null when the
// element left the page meanwhile.
export async function draw(el, option, onClick) {
  const ec = await loadCharts();
  if (!el.isConnected || el.clientWidth === 0) return null;
  let c = ec.getInstanceByDom(el);
  if (!c) {
    c = ec.init(el, null, { renderer: 'canvas', locale: lang() === 'zh' ? 'ZH' : 'EN' });
    live.add(c);
    if (onClick) c.on('click', onClick);
  }
  const tooltip = { ...BASE.tooltip, ...(option.tooltip || {}) };
  c.setOption({ ...BASE, ...option, tooltip }, true);
  return c;
}

// Called when a screen is torn down.
export function disposeCharts() {
  for (const c of live) c.dispose();
  live.clear();
}

window.addEventListener('resize', () => {
  for (const c of live) c.resize();
});

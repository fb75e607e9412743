// Building DOM without innerHTML: every string from the log goes in as text,
// so a name like "<img onerror=…>" stays a name. Inline styles are refused
// by the page's Content-Security-Policy, so `props` has no `style`: classes
// do the styling, and the few computed sizes are set as el.style.x in JS.

// h('td', {class: 'num', title: 'x', data: {kpi: 'households'}, onclick: f}, 'text', child)
export function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'data') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'style') throw new Error('inline styles are blocked by the CSP');
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, kids);
  return el;
}

// Appends strings (as text), nodes and nested arrays; skips null and false.
export function append(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

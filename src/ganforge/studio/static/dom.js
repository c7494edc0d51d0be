/* DOM helpers shared by every module. */

export const $ = (id) => document.getElementById(id);

/** A DOM element: el('a', {class: 'x', href: '/', text: 'hi', onclick: fn}, child, ...). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

/** "1 image", "3 images". */
export function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

/* Uploads: one drop zone per input the selected tool declares (GET /v1/tools `inputs`).
 *
 * An input is {name, title, media_types, many, description}. What was chosen for an input is kept
 * in `app.uploads` under the input's name, so it stays when another tool with an input of that
 * name is picked. The first zone keeps the page's original ids (#drop, #file-input, ...); further
 * zones add "-2", "-3", ...
 */

import { clearAlert, report, showAlert } from './alerts.js';
import { api } from './api.js';
import { $, el, plural } from './dom.js';

/** Words for an input's files: images where every media type is an image, files otherwise. */
function nouns(input) {
  const types = input.media_types || [];
  const images = types.length > 0 && types.every((t) => t.startsWith('image/'));
  return images ? { one: 'image', many: 'images', a: 'an image', images }
    : { one: 'file', many: 'files', a: 'a file', images };
}

/** The files chosen for an input (a list kept in app.uploads). */
export function chosen(app, input) {
  if (!app.uploads.has(input.name)) app.uploads.set(input.name, []);
  return app.uploads.get(input.name);
}

/** Build the current tool's drop zones into #inputs (hidden when it takes none). */
export function renderInputs(app, tool) {
  const inputs = tool.inputs || [];
  app.zones = inputs.map((input, i) => buildZone(app, input, i === 0 ? '' : `-${i + 1}`));
  const box = $('inputs');
  box.replaceChildren(...app.zones.map((z) => z.section));
  box.hidden = !inputs.length;
  for (const zone of app.zones) {
    renderThumbs(app, zone);
    const n = chosen(app, zone.input).length;
    zone.status.textContent = n ? `${plural(n, zone.words.one, zone.words.many)} ready` : '';
  }
}

function buildZone(app, inp, sfx) {
  const words = nouns(inp);
  const zone = { input: inp, words };
  const titleId = `inputs-title${sfx}`;
  const hintId = `drop-hint${sfx}`;
  zone.file = el('input', { type: 'file', id: `file-input${sfx}`, accept: (inp.media_types || []).join(',') || null,
    multiple: inp.many === true, hidden: true, onchange: () => addFiles(app, zone, zone.file.files) });
  zone.drop = el('button', { type: 'button', class: 'drop', id: `drop${sfx}`, 'aria-describedby': hintId,
    onclick: () => zone.file.click() },
  el('span', { class: 'drop-main', text: inp.many ? `Drop ${words.many} here or choose files`
    : `Drop ${words.a} here or choose a file` }),
  el('span', { class: 'drop-sub', id: hintId, text: inp.description || '' }));
  zone.drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.drop.classList.add('over');
  });
  zone.drop.addEventListener('dragleave', () => zone.drop.classList.remove('over'));
  zone.drop.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.drop.classList.remove('over');
    addFiles(app, zone, e.dataTransfer.files);
  });
  zone.status = el('p', { class: 'hint', id: `upload-status${sfx}`, 'aria-live': 'polite' });
  zone.thumbs = el('ul', { class: 'thumbs', id: `thumbs${sfx}`, 'aria-label': `Chosen ${words.many}` });
  zone.clear = el('button', { type: 'button', class: 'quiet clear-uploads', id: `clear-uploads${sfx}`, hidden: true,
    text: `Remove all ${words.many}`, onclick: () => {
      app.uploads.set(inp.name, []);
      renderThumbs(app, zone);
      zone.status.textContent = `No ${words.many} chosen`;
      zone.drop.focus();
    } });
  zone.section = el('section', { class: 'inputs', 'aria-labelledby': titleId, 'data-input': inp.name },
    el('h3', { id: titleId, text: inp.title || inp.name }), zone.drop, zone.file, zone.status, zone.thumbs, zone.clear);
  return zone;
}

/** The zone on the form now for an input name (the form may have changed during an upload). */
function current(app, zone) {
  return app.zones.find((z) => z.input.name === zone.input.name) || null;
}

async function addFiles(app, zone, files) {
  files = Array.from(files || []);
  if (!files.length) return;
  clearAlert();
  const { words } = zone;
  if (!zone.input.many && files.length > 1) {
    showAlert(`${zone.input.title || zone.input.name} takes ${words.a}; choose one.`);
    zone.file.value = '';
    return;
  }
  const form = new FormData();
  for (const f of files) form.append('files', f, f.name);
  zone.status.textContent = `Uploading ${plural(files.length, words.one, words.many)}…`;
  zone.drop.setAttribute('aria-busy', 'true');
  try {
    const out = await api(app, 'POST', '/v1/uploads', form);
    const list = zone.input.many ? chosen(app, zone.input) : [];
    for (const u of out.uploads) {
      list.push(u);
      app.names.set(u.id, u.filename);
    }
    app.uploads.set(zone.input.name, list);
    const now = current(app, zone);
    if (now) {
      renderThumbs(app, now);
      now.status.textContent = `${plural(list.length, words.one, words.many)} ready`;
    }
  } catch (err) {
    zone.status.textContent = 'Upload refused: nothing was added.';
    report(app, err);
  } finally {
    zone.drop.removeAttribute('aria-busy');
    zone.file.value = '';
  }
}

function renderThumbs(app, zone) {
  const list = chosen(app, zone.input);
  zone.thumbs.replaceChildren(...list.map((u, i) => el('li', { class: 'thumb' },
    zone.words.images ? el('img', { src: u.url, alt: '', width: 64, height: 64 }) : null,
    el('span', { class: 'thumb-name', title: u.filename, text: u.filename }),
    u.width && u.height ? el('span', { class: 'thumb-size', text: `${u.width}×${u.height}` }) : null,
    el('button', { type: 'button', class: 'icon', 'aria-label': `Remove ${u.filename}`, text: '×',
      onclick: () => removeUpload(app, zone, i) }))));
  zone.clear.hidden = list.length < 2;
}

function removeUpload(app, zone, i) {
  const list = chosen(app, zone.input);
  const name = list[i].filename;
  list.splice(i, 1);
  renderThumbs(app, zone);
  zone.status.textContent = `Removed ${name}; ${list.length} left`;
  const buttons = zone.thumbs.querySelectorAll('button');
  (buttons[Math.min(i, buttons.length - 1)] || zone.drop).focus();
}

/** The drop zone of the input an API error names ("inputs", "inputs.NAME..."), else the first. */
export function zoneFor(app, apiField) {
  const m = /^inputs\.([^.[\]]+)/.exec(apiField || '');
  return (m && app.zones.find((z) => z.input.name === m[1])) || app.zones[0] || null;
}

/**
 * The job's `inputs` for the current tool, or {missing: zone} when an input has no file yet.
 * One input: the upload ids (the API's list); several: {name: ids}.
 */
export function jobInputs(app) {
  for (const zone of app.zones) if (!chosen(app, zone.input).length) return { missing: zone };
  const ids = (zone) => chosen(app, zone.input).map((u) => u.id);
  if (app.zones.length === 1) return { inputs: ids(app.zones[0]) };
  if (!app.zones.length) return { inputs: [] };
  return { inputs: Object.fromEntries(app.zones.map((z) => [z.input.name, ids(z)])) };
}

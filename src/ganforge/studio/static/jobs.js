/* Job cards in Results: made from GET /v1/jobs/{id}, followed with server-sent events until the
 * job ends (polling if the stream fails). A finished job is announced on `app.events` as
 * "job-finished" (main.js refreshes History and the usage meters). */

import { announce, report } from './alerts.js';
import { api } from './api.js';
import { $, el } from './dom.js';

export const FINISHED = new Set(['succeeded', 'partial', 'failed', 'cancelled']);
const POLL_MS = 1000;
const PIXEL_TARGET = 280; // small generated images are shown at an integer zoom near this width

export function toolOf(app, job) {
  return app.tools.find((t) => t.name === job.tool) || null;
}

/** Input and result side by side for tools whose items are uploads (one result per upload);
 * results alone for the others: seeds, or several named inputs that make one result together
 * (the audit's three tables), where an item has no one input to show. */
function takesInputs(app, job) {
  const tool = toolOf(app, job);
  if (tool && !(tool.inputs || []).length) return false;
  return job.items.some((it) => it.input_url) || Boolean(tool && tool.inputs.some((inp) => inp.many));
}

/** Results that are not images (a JSON audit) are shown as a file to open or download, named
 * with the suffix of their media type. */
const SUFFIXES = { 'image/png': '.png', 'image/jpeg': '.jpg', 'application/json': '.json', 'text/html': '.html',
  'text/csv': '.csv', 'application/zip': '.zip' };

function isImage(mediaType) {
  return !mediaType || mediaType.startsWith('image/');
}

function suffixOf(mediaType) {
  return SUFFIXES[mediaType || 'image/png'] || '';
}

function uploadIdOf(url) {
  return url ? url.split('/').pop() : null;
}

function itemLabel(app, item) {
  return app.names.get(uploadIdOf(item.input_url)) || item.label;
}

function describeParams(params) {
  const parts = [];
  for (const [k, v] of Object.entries(params || {})) {
    if (v === null || v === undefined) continue;
    parts.push(`${k.replace(/_/g, ' ')} ${Array.isArray(v) ? compactList(v) : v}`);
  }
  return parts.join(' · ');
}

/** [0, 1, 2, 3, 7] -> "0-3, 7": runs of three or more whole numbers as ranges. */
function compactList(values) {
  const parts = [];
  for (let i = 0; i < values.length;) {
    let j = i;
    while (Number.isInteger(values[j]) && values[j + 1] === values[j] + 1) j++;
    parts.push(j - i >= 2 ? `${values[i]}-${values[j]}` : values.slice(i, j + 1).join(', '));
    i = j + 1;
  }
  return parts.join(', ');
}

export function when(seconds) {
  const d = new Date(seconds * 1000);
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return d.toDateString() === new Date().toDateString() ? time : `${d.toLocaleDateString()} ${time}`;
}

/** Show a job's card at the top of Results (making it if needed) and follow it until it ends. */
export function showJob(app, job) {
  let entry = app.jobs.get(job.id);
  if (!entry) {
    entry = buildCard(app, job);
    app.jobs.set(job.id, entry);
  }
  $('jobs').prepend(entry.card);
  $('results-empty').hidden = true;
  updateCard(app, entry, job);
  if (!FINISHED.has(job.status)) follow(app, entry);
  return entry;
}

function buildCard(app, job) {
  const tool = toolOf(app, job);
  const titleId = `job-${job.id}-title`;
  const entry = { job, items: new Map(), source: null, timer: null, images: takesInputs(app, job) };
  entry.badge = el('span', { class: 'badge' });
  entry.bar = el('progress', { max: 1, value: 0, 'aria-label': 'Job progress' });
  entry.progressText = el('span', { class: 'progress-text' });
  entry.error = el('p', { class: 'job-error', hidden: true });
  entry.cancel = el('button', { type: 'button', class: 'danger', text: 'Cancel',
    'aria-describedby': titleId, onclick: () => cancelJob(app, entry) });
  entry.zip = el('a', { class: 'button', href: job.links.zip, download: `ganforge-${job.id}.zip`,
    'aria-describedby': titleId, text: 'Download all (zip)' });
  entry.list = el('ul', { class: `items ${entry.images ? 'pairs' : 'grids'}` });
  entry.card = el('article', { class: 'job card', tabindex: -1, 'data-job': job.id, 'aria-labelledby': titleId },
    el('header', { class: 'job-head' },
      el('div', { class: 'job-title' },
        el('h3', { id: titleId }, tool ? tool.title : job.tool, ' ', el('span', { class: 'model', text: job.model })),
        el('p', { class: 'job-meta', text: `${when(job.created)} · ${describeParams(job.params)}` })),
      entry.badge),
    el('div', { class: 'job-progress' }, entry.bar, entry.progressText),
    entry.error,
    el('div', { class: 'job-actions' }, entry.cancel, entry.zip,
      el('button', { type: 'button', class: 'quiet', text: 'Close', 'aria-describedby': titleId,
        onclick: () => closeJob(app, entry) })),
    entry.list);
  return entry;
}

function updateCard(app, entry, job) {
  const before = entry.job;
  entry.job = job;
  const p = job.progress;
  const finished = FINISHED.has(job.status);
  entry.badge.textContent = job.status;
  entry.badge.className = `badge status-${job.status}`;
  entry.bar.value = finished ? 1 : p.fraction;
  entry.progressText.textContent = `${p.items_done} of ${p.items_total} done`;
  entry.cancel.hidden = finished;
  const results = job.items.filter((it) => it.result_url).length;
  entry.zip.hidden = results === 0;
  entry.error.hidden = !job.error;
  entry.error.textContent = job.error || '';
  entry.card.setAttribute('aria-busy', finished ? 'false' : 'true');
  for (const item of job.items) updateItem(app, entry, job, item);
  if (before !== job && before.status !== job.status && finished) {
    const title = (toolOf(app, job) || { title: job.tool }).title;
    announce(`${title} ${job.status}: ${results} of ${p.items_total} results`);
  } else if (before !== job && before.progress.items_done !== p.items_done && !finished) {
    announce(`${p.items_done} of ${p.items_total} done`);
  }
}

function updateItem(app, entry, job, item) {
  let it = entry.items.get(item.index);
  if (!it) {
    it = buildItem(app, entry, job, item);
    entry.items.set(item.index, it);
    entry.list.append(it.li);
  }
  const done = item.status === 'succeeded';
  it.status.textContent = item.status === 'succeeded' ? '' : item.status;
  it.status.className = `item-status status-${item.status}`;
  it.bar.hidden = FINISHED.has(item.status);
  it.bar.value = item.progress.total ? item.progress.done / item.progress.total : 0;
  it.error.hidden = !item.error;
  it.error.textContent = item.error || '';
  if (item.result_url && it.result.dataset.src !== item.result_url) {
    it.result.dataset.src = item.result_url;
    if (isImage(item.media_type)) {
      const img = el('img', { src: item.result_url, alt: `Result: ${itemLabel(app, item)}`, class: 'result-img' });
      fitImage(img, !entry.images);
      it.result.replaceChildren(img);
    } else {
      it.result.replaceChildren(el('a', { class: 'result-file', href: item.result_url, target: '_blank',
        rel: 'noopener', text: `Open the result (${suffixOf(item.media_type).slice(1) || item.media_type})` }));
    }
    it.download.href = item.result_url;
    it.download.setAttribute('download', `${it.base}${suffixOf(item.media_type)}`);
  } else if (!item.result_url) {
    it.result.replaceChildren(el('span', { class: 'placeholder', text: done ? 'no result' : item.status }));
  }
  it.download.hidden = !item.result_url;
}

function buildItem(app, entry, job, item) {
  const label = itemLabel(app, item);
  const it = {};
  it.status = el('span', { class: 'item-status' });
  it.bar = el('progress', { max: 1, value: 0, 'aria-label': `Progress of ${label}` });
  it.error = el('p', { class: 'item-error', hidden: true });
  it.result = el('div', { class: 'frame result', 'data-src': '' });
  const base = label.replace(/\.[A-Za-z0-9]+$/, '').replace(/[^A-Za-z0-9._-]+/g, '-');
  it.base = `${job.tool}-${base}`;
  it.download = el('a', { class: 'download', download: `${it.base}.png`, hidden: true,
    'aria-label': `Download ${label}`, text: 'Download' });
  const head = el('div', { class: 'item-head' }, el('span', { class: 'item-label', title: label, text: label }), it.status);
  let body;
  if (entry.images) {
    const input = el('div', { class: 'frame input' });
    if (item.input_url) {
      const img = el('img', { src: item.input_url, alt: `Input: ${label}` });
      fitImage(img, false);
      input.append(img);
    }
    body = el('div', { class: 'pair' },
      el('figure', {}, input, el('figcaption', { text: 'Input' })),
      el('figure', {}, it.result, el('figcaption', { text: 'Result' })));
  } else {
    body = it.result;
  }
  it.li = el('li', { class: 'item' }, head, it.bar, body, it.error, el('div', { class: 'item-foot' }, it.download));
  return it;
}

/** Small images are drawn with crisp pixels; generated grids also at an integer zoom. */
function fitImage(img, zoom) {
  img.addEventListener('load', () => {
    const w = img.naturalWidth;
    if (zoom && w && w < PIXEL_TARGET) {
      const k = Math.max(1, Math.round(PIXEL_TARGET / w));
      img.width = w * k;
      img.height = img.naturalHeight * k;
    }
    if (w && img.getBoundingClientRect().width >= 2 * w) img.classList.add('pixel');
  }, { once: true });
  if (zoom) img.classList.add('pixel');
}

function finishedJob(app) {
  app.events.dispatchEvent(new Event('job-finished'));
}

function follow(app, entry) {
  if (entry.source || entry.timer) return;
  if (!window.EventSource) {
    poll(app, entry);
    return;
  }
  const source = new EventSource(entry.job.links.events);
  entry.source = source;
  source.addEventListener('job', (e) => {
    let job;
    try {
      job = JSON.parse(e.data);
    } catch (err) {
      return;
    }
    updateCard(app, entry, job);
    if (FINISHED.has(job.status)) {
      stopFollowing(entry);
      finishedJob(app);
    }
  });
  source.addEventListener('error', () => {
    if (entry.source !== source) return;
    stopFollowing(entry);
    if (!FINISHED.has(entry.job.status)) poll(app, entry); // the stream broke: poll instead
  });
}

function poll(app, entry, delay = POLL_MS) {
  entry.timer = setTimeout(async () => {
    entry.timer = null;
    if (!app.jobs.has(entry.job.id)) return;
    try {
      const job = await api(app, 'GET', entry.job.links.self);
      updateCard(app, entry, job);
      if (FINISHED.has(job.status)) finishedJob(app);
      else poll(app, entry);
    } catch (err) {
      if ([401, 403, 404].includes(err.status)) report(app, err);
      else poll(app, entry, Math.min(delay * 2, 15000)); // the server may be restarting: back off
    }
  }, delay);
}

function stopFollowing(entry) {
  if (entry.source) entry.source.close();
  entry.source = null;
  clearTimeout(entry.timer);
  entry.timer = null;
}

/** Stop every stream and timer (the session ended). */
export function stopAll(app) {
  for (const entry of app.jobs.values()) stopFollowing(entry);
}

async function cancelJob(app, entry) {
  entry.cancel.disabled = true;
  try {
    const out = await api(app, 'DELETE', entry.job.links.self);
    announce(`Cancelling: ${out.status}`);
  } catch (err) {
    report(app, err);
  } finally {
    entry.cancel.disabled = false;
  }
}

function closeJob(app, entry) {
  stopFollowing(entry);
  const next = entry.card.nextElementSibling || entry.card.previousElementSibling;
  entry.card.remove();
  app.jobs.delete(entry.job.id);
  $('results-empty').hidden = app.jobs.size > 0;
  (next || $('results-title')).focus();
}

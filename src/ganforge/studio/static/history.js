/* History: the key's jobs, newest first, a page at a time; a click opens one in Results. */

import { clearAlert, report } from './alerts.js';
import { api } from './api.js';
import { $, el, plural } from './dom.js';
import { showJob, toolOf, when } from './jobs.js';

const HISTORY_PAGE = 10;

/** The first page again (`reset`) or the next older one. */
export async function loadHistory(app, reset) {
  const list = $('history-list');
  let data;
  try {
    const more = reset || app.historyBefore === null ? '' : `&before=${app.historyBefore}`;
    data = await api(app, 'GET', `/v1/jobs?limit=${HISTORY_PAGE}${more}`);
  } catch (err) {
    report(app, err);
    return;
  }
  if (reset) list.replaceChildren();
  for (const job of data.jobs) list.append(historyItem(app, job));
  if (!list.children.length) list.append(el('li', { class: 'hint', text: 'No jobs yet.' }));
  app.historyBefore = data.next_before;
  $('history-more').hidden = data.next_before === null;
}

function historyItem(app, job) {
  const tool = toolOf(app, job);
  return el('li', {}, el('button', { type: 'button', class: 'history-item', 'data-job': job.id,
    onclick: () => openJob(app, job.id) },
  el('span', { class: 'h-title' }, el('span', { text: tool ? tool.title : job.tool }),
    el('span', { class: `badge status-${job.status}`, text: job.status })),
  el('span', { class: 'h-meta',
    text: `${job.model} · ${plural(job.progress.items_total, 'item', 'items')} · ${when(job.created)}` })));
}

async function openJob(app, id) {
  clearAlert();
  try {
    const job = await api(app, 'GET', `/v1/jobs/${encodeURIComponent(id)}`);
    const entry = showJob(app, job);
    entry.card.scrollIntoView({ block: 'start', behavior: 'smooth' });
    entry.card.focus({ preventScroll: true });
  } catch (err) {
    report(app, err);
  }
}

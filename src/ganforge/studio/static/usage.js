/* The usage meters in the header (GET /v1/usage). */

import { report } from './alerts.js';
import { api } from './api.js';
import { $, el } from './dom.js';

const per = (s) => (s === 1 ? 's' : s === 60 ? 'min' : s === 3600 ? 'h' : s === 86400 ? 'day' : `${s} s`);
const limit = (l) => (l.limit === null ? '' : ` / ${l.limit}`);

export async function refreshUsage(app) {
  let u;
  try {
    u = await api(app, 'GET', '/v1/usage');
  } catch (err) {
    if (err.status === 401) report(app, err);
    return; // usage is a nicety: a failed refresh is not worth an alert
  }
  $('usage').replaceChildren(
    el('span', { class: 'meter' }, el('strong', { text: u.requests.used }),
      `${limit(u.requests)} requests per ${per(u.requests.window_seconds)}`),
    el('span', { class: 'meter' }, el('strong', { text: u.images_today.used }),
      `${limit(u.images_today)} images today`),
  );
}

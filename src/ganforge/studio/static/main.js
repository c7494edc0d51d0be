/* ganforge studio: the page. ES modules, no build step; everything it shows comes from the /v1 API.
 *
 * Tools, models and parameter forms are built from GET /v1/tools (params_schema is a JSON schema,
 * `inputs` the uploads a tool takes); jobs are followed with server-sent events (polling if the
 * stream fails); every POST and DELETE carries the session's CSRF token from GET /v1/session.
 *
 * Modules: api.js (fetch, errors, CSRF), alerts.js, form.js + widgets.js (forms from JSON
 * schema), uploads.js (drop zones), jobform.js (the New job form), jobs.js (job cards, SSE and
 * polling), history.js, usage.js, dom.js. This file makes the one state object, `app`, passes it
 * to them and wires the page's buttons.
 */

import { announce, clearAlert, report } from './alerts.js';
import { ApiError, api } from './api.js';
import { $ } from './dom.js';
import { loadHistory } from './history.js';
import { renderTools, selectModel, submit } from './jobform.js';
import { stopAll } from './jobs.js';
import { refreshUsage } from './usage.js';

function createApp() {
  return {
    csrf: null,
    tools: [],
    tool: null, // the tool picked on the form
    fields: null, // its parameter fields (form.js)
    zones: [], // its drop zones (uploads.js)
    modelByTool: new Map(), // tool name -> the model last picked for it
    values: new Map(), // "tool.param" -> what the user typed, kept across tool switches
    uploads: new Map(), // input name -> [{id, filename, url, width, height}] chosen for the next job
    names: new Map(), // upload id -> file name, to label a batch's items
    jobs: new Map(), // job id -> {job, card, items: Map, source, timer}
    historyBefore: null,
    events: new EventTarget(), // "signed-out", "job-finished"
  };
}

function showSignedOut(app) {
  stopAll(app);
  app.csrf = null;
  $('loading').hidden = true;
  $('studio').hidden = true;
  $('who').hidden = true;
  $('signed-out').hidden = false;
}

async function signOut(app) {
  try {
    await api(app, 'POST', '/v1/session/signout');
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) {
      report(app, err);
      return;
    }
  }
  clearAlert();
  showSignedOut(app);
  announce('Signed out');
}

async function start() {
  const app = createApp();
  app.events.addEventListener('signed-out', () => showSignedOut(app));
  app.events.addEventListener('job-finished', () => {
    loadHistory(app, true);
    refreshUsage(app);
  });
  $('alert-close').addEventListener('click', clearAlert);
  $('signout').addEventListener('click', () => signOut(app));
  $('model').addEventListener('change', () => selectModel(app));
  $('new-job').addEventListener('submit', (e) => submit(app, e));
  $('history-refresh').addEventListener('click', () => loadHistory(app, true));
  $('history-more').addEventListener('click', () => loadHistory(app, false));
  $('results-title').setAttribute('tabindex', '-1');

  let session;
  try {
    session = await api(app, 'GET', '/v1/session');
  } catch (err) {
    $('loading').hidden = true;
    report(app, err);
    return;
  }
  app.csrf = session.csrf_token;
  $('key-name').textContent = session.key;
  $('who').hidden = false;
  try {
    app.tools = await api(app, 'GET', '/v1/tools');
  } catch (err) {
    $('loading').hidden = true;
    report(app, err);
    return;
  }
  renderTools(app);
  $('loading').hidden = true;
  $('studio').hidden = false;
  refreshUsage(app);
  loadHistory(app, true);
}

start(); // module scripts run once the document is parsed

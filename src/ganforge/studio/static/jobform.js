/* The New job form: tool chips, the model select, the parameter form and its drop zones, Run. */

import { announce, clearAlert, report, showAlert } from './alerts.js';
import { api } from './api.js';
import { $, el, plural } from './dom.js';
import { buildForm, clearFieldErrors, fieldFor, markField, rawValue, readParams } from './form.js';
import { loadHistory } from './history.js';
import { showJob } from './jobs.js';
import { jobInputs, renderInputs, zoneFor } from './uploads.js';
import { refreshUsage } from './usage.js';

export function renderTools(app) {
  const list = $('tool-list');
  list.replaceChildren();
  for (const tool of app.tools) {
    const input = el('input', { type: 'radio', name: 'tool', value: tool.name, id: `tool-${tool.name}`,
      'aria-describedby': 'tool-summary', onchange: () => selectTool(app, tool.name) });
    list.append(el('label', { class: 'chip', for: `tool-${tool.name}` }, input, el('span', { text: tool.title })));
  }
  if (app.tools.length) selectTool(app, app.tools[0].name);
  else showAlert('This studio has no tools with models. Bundled models are missing from the installation.');
}

function selectTool(app, name) {
  saveValues(app);
  app.fields = null; // the form about to be rebuilt belongs to the new tool
  const tool = app.tools.find((t) => t.name === name);
  app.tool = tool;
  $(`tool-${name}`).checked = true;
  $('tool-summary').textContent = tool.summary;
  const select = $('model');
  select.replaceChildren(...tool.models.map((m) => el('option', { value: m.name, text: m.name })));
  const remembered = app.modelByTool.get(name);
  if (remembered && tool.models.some((m) => m.name === remembered)) select.value = remembered;
  renderInputs(app, tool);
  selectModel(app);
}

function currentModel(app) {
  return app.tool.models.find((m) => m.name === $('model').value) || app.tool.models[0];
}

/** The model select changed (or a tool was picked): its summary, and the form for it. */
export function selectModel(app) {
  saveValues(app);
  const model = currentModel(app);
  app.modelByTool.set(app.tool.name, model.name);
  const facts = [];
  const d = model.details || {};
  if (typeof d.parameters === 'number') facts.push(`${formatCount(d.parameters)} parameters`);
  if (Array.isArray(d.classes) && d.classes.length) facts.push(`${d.classes.length} classes`);
  if (typeof d.scale === 'number' && d.scale > 1) facts.push(`×${d.scale}`);
  if (d.data) facts.push(`trained on ${d.data}`);
  const summary = model.summary === app.tool.summary ? null : el('span', { text: model.summary });
  const more = facts.length ? el('span', { class: 'facts', text: facts.join(' · ') }) : null;
  $('model-summary').replaceChildren(...[summary, more].filter(Boolean));
  const saved = (param) => app.values.get(`${app.tool.name}.${param}`);
  app.fields = buildForm($('params'), app.tool.params_schema, model, saved);
}

function formatCount(n) {
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${Math.round(n / 1e3)}k`;
  return String(n);
}

/** Keep what was typed, per tool and parameter, across tool and model switches. */
function saveValues(app) {
  if (!app.tool || !app.fields) return;
  for (const f of app.fields) app.values.set(`${app.tool.name}.${f.spec.name}`, rawValue(f));
}

/** Run: check the form and the inputs here, then POST /v1/jobs and show the job's card. */
export async function submit(app, event) {
  event.preventDefault();
  clearAlert();
  clearFieldErrors(app.fields);
  const tool = app.tool;
  if (!tool) return;
  const read = readParams(app.fields || []);
  if (read.error) {
    markField(read.field, read.error);
    showAlert(`${read.field.spec.title}: ${read.error}`);
    return;
  }
  const given = jobInputs(app);
  if (given.missing) {
    const { input } = given.missing;
    showAlert(`${tool.title} works on ${(input.title || input.name).toLowerCase()}: choose at least one first.`);
    given.missing.drop.focus();
    return;
  }
  const run = $('run');
  run.disabled = true;
  run.setAttribute('aria-busy', 'true');
  try {
    const job = await api(app, 'POST', '/v1/jobs', {
      tool: tool.name, model: currentModel(app).name, params: read.params, inputs: given.inputs,
    });
    showJob(app, job);
    announce(`${tool.title} started: ${plural(job.progress.items_total, 'item', 'items')}`);
    loadHistory(app, true);
    refreshUsage(app);
  } catch (err) {
    const f = fieldFor(app.fields, err.field);
    if (f) markField(f, err.message);
    else if (err.field && /^inputs/.test(err.field)) (zoneFor(app, err.field) || { drop: $('run') }).drop.focus();
    report(app, err);
  } finally {
    run.disabled = false;
    run.removeAttribute('aria-busy');
  }
}

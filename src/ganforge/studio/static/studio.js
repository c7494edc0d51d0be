/* ganforge studio: the page. Plain JS, no build step; everything it shows comes from the /v1 API.
 *
 * Tools, models and parameter forms are built from GET /v1/tools (params_schema is a JSON
 * schema); jobs are followed with server-sent events (polling if the stream fails); every
 * POST and DELETE carries the session's CSRF token from GET /v1/session.
 */
'use strict';

(() => {
  const FINISHED = new Set(['succeeded', 'partial', 'failed', 'cancelled']);
  const POLL_MS = 1000;
  const HISTORY_PAGE = 10;
  const PIXEL_TARGET = 280; // small generated images are shown at an integer zoom near this width

  const state = {
    csrf: null,
    tools: [],
    tool: null,
    modelByTool: new Map(), // tool name -> the model last picked for it
    values: new Map(), // "tool.param" -> what the user typed, kept across tool switches
    uploads: [], // {id, filename, url, width, height} chosen for the next image job
    names: new Map(), // upload id -> file name, to label a batch's items
    jobs: new Map(), // job id -> {job, card, items: Map, source, timer}
    historyBefore: null,
  };

  const $ = (id) => document.getElementById(id);

  /** A DOM element: el('a', {class: 'x', href: '/', text: 'hi', onclick: fn}, child, ...). */
  function el(tag, attrs = {}, ...children) {
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

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(status, code, message, field) {
      super(message);
      this.status = status;
      this.code = code;
      this.field = field || null;
    }
  }

  /** fetch with the session cookie, the CSRF header on changes and the API's error shape. */
  async function api(method, path, body) {
    const opts = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (method !== 'GET' && state.csrf) opts.headers['X-CSRF-Token'] = state.csrf;
    if (body instanceof FormData) {
      opts.body = body;
    } else if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, opts);
    } catch (err) {
      throw new ApiError(0, 'network', 'The studio server cannot be reached. Is ganforge serve still running?');
    }
    if (res.status === 204) return null;
    const isJson = (res.headers.get('content-type') || '').includes('json');
    const data = isJson ? await res.json().catch(() => null) : null;
    if (!res.ok) {
      const e = data && data.error;
      if (e) throw new ApiError(res.status, e.code, e.message, e.field);
      throw new ApiError(res.status, 'error', `The server answered ${res.status} ${res.statusText}`.trim());
    }
    return data;
  }

  // ---------------------------------------------------------------- alerts and announcements

  function showAlert(message) {
    $('alert-text').textContent = message;
    $('alert').hidden = false;
  }

  function clearAlert() {
    $('alert').hidden = true;
    $('alert-text').textContent = '';
  }

  /** Show an error: a lost session goes back to the sign-in panel, anything else to the alert. */
  function report(err) {
    if (err instanceof ApiError && err.status === 401) {
      showSignedOut();
      return;
    }
    showAlert(err.message || String(err));
  }

  function announce(text) {
    $('live').textContent = text;
  }

  // ---------------------------------------------------------------- session

  function showSignedOut() {
    for (const entry of state.jobs.values()) stopFollowing(entry);
    state.csrf = null;
    $('loading').hidden = true;
    $('studio').hidden = true;
    $('who').hidden = true;
    $('signed-out').hidden = false;
  }

  async function signOut() {
    try {
      await api('POST', '/v1/session/signout');
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) {
        report(err);
        return;
      }
    }
    clearAlert();
    showSignedOut();
    announce('Signed out');
  }

  async function refreshUsage() {
    let u;
    try {
      u = await api('GET', '/v1/usage');
    } catch (err) {
      if (err.status === 401) report(err);
      return; // usage is a nicety: a failed refresh is not worth an alert
    }
    const per = (s) => (s === 1 ? 's' : s === 60 ? 'min' : s === 3600 ? 'h' : s === 86400 ? 'day' : `${s} s`);
    const limit = (l) => (l.limit === null ? '' : ` / ${l.limit}`);
    $('usage').replaceChildren(
      el('span', { class: 'meter' }, el('strong', { text: u.requests.used }),
        `${limit(u.requests)} requests per ${per(u.requests.window_seconds)}`),
      el('span', { class: 'meter' }, el('strong', { text: u.images_today.used }),
        `${limit(u.images_today)} images today`),
    );
  }

  // ---------------------------------------------------------------- tools and models

  function renderTools() {
    const list = $('tool-list');
    list.replaceChildren();
    for (const tool of state.tools) {
      const input = el('input', { type: 'radio', name: 'tool', value: tool.name, id: `tool-${tool.name}`,
        'aria-describedby': 'tool-summary', onchange: () => selectTool(tool.name) });
      list.append(el('label', { class: 'chip', for: `tool-${tool.name}` }, input, el('span', { text: tool.title })));
    }
    if (state.tools.length) selectTool(state.tools[0].name);
    else showAlert('This studio has no tools with models. Bundled models are missing from the installation.');
  }

  function selectTool(name) {
    saveValues();
    state.fields = null; // the form about to be rebuilt belongs to the new tool
    const tool = state.tools.find((t) => t.name === name);
    state.tool = tool;
    $(`tool-${name}`).checked = true;
    $('tool-summary').textContent = tool.summary;
    const select = $('model');
    select.replaceChildren(...tool.models.map((m) => el('option', { value: m.name, text: m.name })));
    const remembered = state.modelByTool.get(name);
    if (remembered && tool.models.some((m) => m.name === remembered)) select.value = remembered;
    $('inputs').hidden = !tool.takes_images;
    selectModel();
  }

  function currentModel() {
    return state.tool.models.find((m) => m.name === $('model').value) || state.tool.models[0];
  }

  function selectModel() {
    saveValues();
    const model = currentModel();
    state.modelByTool.set(state.tool.name, model.name);
    const facts = [];
    const d = model.details || {};
    if (typeof d.parameters === 'number') facts.push(`${formatCount(d.parameters)} parameters`);
    if (Array.isArray(d.classes) && d.classes.length) facts.push(`${d.classes.length} classes`);
    if (typeof d.scale === 'number' && d.scale > 1) facts.push(`×${d.scale}`);
    if (d.data) facts.push(`trained on ${d.data}`);
    const summary = model.summary === state.tool.summary ? null : el('span', { text: model.summary });
    const more = facts.length ? el('span', { class: 'facts', text: facts.join(' · ') }) : null;
    $('model-summary').replaceChildren(...[summary, more].filter(Boolean));
    renderParams();
  }

  function formatCount(n) {
    if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
    if (n >= 1e3) return `${Math.round(n / 1e3)}k`;
    return String(n);
  }

  // ---------------------------------------------------------------- the parameter form

  /** One schema property as a field description (anyOf [X, null] is X, nullable). */
  function fieldSpec(name, prop, model) {
    let base = prop;
    let nullable = false;
    if (Array.isArray(prop.anyOf)) {
      const others = prop.anyOf.filter((p) => p.type !== 'null');
      nullable = others.length < prop.anyOf.length;
      base = others.length === 1 ? others[0] : { type: 'string' };
    }
    const spec = {
      name, nullable, base,
      title: prop.title || name,
      description: prop.description || '',
      default: prop.default,
    };
    const classes = model.details && model.details.classes;
    if (name === 'classes' && base.type === 'string') {
      // class names belong to the model: a select of them, or nothing for unconditional models
      if (!Array.isArray(classes) || !classes.length) return null;
      spec.kind = 'class';
      spec.options = classes;
      spec.all = /'all'/.test(spec.description);
      // the schemas say what an empty value means ("empty: ..."); where they do not, a conditional
      // model needs a class, so the first is preselected instead of offering "default"
      spec.nullable = spec.nullable && /\bempty:/.test(spec.description);
    } else if (Array.isArray(base.enum)) {
      spec.kind = 'enum';
    } else if (base.type === 'array' && base.items && base.items.type === 'integer') {
      spec.kind = 'list';
    } else if (base.type === 'integer' || base.type === 'number') {
      spec.kind = base.type;
    } else if (base.type === 'boolean') {
      spec.kind = 'bool';
    } else {
      spec.kind = 'text';
    }
    return spec;
  }

  function defaultText(spec) {
    const d = spec.default;
    if (d === null || d === undefined) return '';
    if (Array.isArray(d)) return d.join(',');
    return String(d);
  }

  function renderParams() {
    const box = $('params');
    const schema = state.tool.params_schema || {};
    const props = schema.properties || {};
    const model = currentModel();
    state.fields = [];
    box.replaceChildren();
    for (const [name, prop] of Object.entries(props)) {
      const spec = fieldSpec(name, prop, model);
      if (!spec) continue;
      const id = `p-${name}`;
      const saved = state.values.get(`${state.tool.name}.${name}`);
      const value = saved !== undefined ? saved : defaultText(spec);
      const help = [];
      if (spec.description) help.push(spec.description);
      let control;
      if (spec.kind === 'enum' || spec.kind === 'class') {
        const options = [];
        if (spec.nullable) options.push(el('option', { value: '', text: 'default' }));
        if (spec.kind === 'class' && spec.all) options.push(el('option', { value: 'all', text: 'all' }));
        for (const v of spec.kind === 'class' ? spec.options : spec.base.enum) {
          options.push(el('option', { value: v, text: v }));
        }
        control = el('select', { id, name }, options);
        control.value = value;
        if (control.selectedIndex < 0) control.selectedIndex = 0;
      } else if (spec.kind === 'bool') {
        control = el('input', { id, name, type: 'checkbox' });
        control.checked = value === 'true';
      } else if (spec.kind === 'integer' || spec.kind === 'number') {
        control = el('input', {
          id, name, type: 'number', inputmode: spec.kind === 'integer' ? 'numeric' : 'decimal',
          min: spec.base.minimum, max: spec.base.maximum, step: spec.kind === 'integer' ? 1 : 'any',
          placeholder: spec.nullable ? 'empty: default' : defaultText(spec),
        });
        control.value = value;
      } else if (spec.kind === 'list') {
        control = el('input', { id, name, type: 'text', inputmode: 'numeric', autocomplete: 'off',
          spellcheck: 'false', placeholder: 'e.g. 1,2,3 or 0-3' });
        control.value = value;
        help.push('Comma-separated, ranges like 0-3.');
      } else {
        control = el('input', { id, name, type: 'text', autocomplete: 'off', spellcheck: 'false',
          placeholder: spec.nullable ? 'empty: default' : '' });
        control.value = value;
      }
      const helpId = `${id}-help`;
      const errId = `${id}-error`;
      control.setAttribute('aria-describedby', `${helpId} ${errId}`);
      const wide = spec.kind === 'list' || spec.kind === 'text' || spec.kind === 'class';
      const field = el('div', { class: `field${wide ? ' wide' : ''}${spec.kind === 'bool' ? ' check' : ''}` },
        spec.kind === 'bool' ? [control, el('label', { for: id, text: spec.title })]
          : [el('label', { for: id, text: spec.title }), control],
        el('p', { class: 'hint', id: helpId, text: help.join(' ') }),
        el('p', { class: 'field-error', id: errId, hidden: true }));
      box.append(field);
      state.fields.push({ spec, control, error: field.lastChild });
    }
    if (!state.fields.length) box.append(el('p', { class: 'hint', text: 'This tool has no parameters.' }));
  }

  function rawValue(f) {
    return f.spec.kind === 'bool' ? String(f.control.checked) : f.control.value;
  }

  function saveValues() {
    if (!state.tool || !state.fields) return;
    for (const f of state.fields) state.values.set(`${state.tool.name}.${f.spec.name}`, rawValue(f));
  }

  /** "1,2,5-7" -> [1, 2, 5, 6, 7]; a string for people when it cannot be read. */
  function parseList(text, spec) {
    const items = spec.base.items || {};
    const most = spec.base.maxItems ?? 1000;
    const out = [];
    const tidy = text.replace(/\s*(-|\.\.)\s*/g, '$1'); // "0 - 3" is the range 0-3
    for (const part of tidy.split(/[\s,]+/).filter(Boolean)) {
      const m = /^(\d+)(?:\s*(?:-|\.\.)\s*(\d+))?$/.exec(part);
      if (!m) return `"${part}" is not a whole number or a range like 0-3`;
      const lo = Number(m[1]);
      const hi = m[2] === undefined ? lo : Number(m[2]);
      if (hi < lo) return `the range ${part} runs backwards; write ${hi}-${lo}`;
      if (out.length + hi - lo + 1 > most) return `at most ${most} values`;
      for (let v = lo; v <= hi; v++) out.push(v);
    }
    if (out.length < (spec.base.minItems ?? 0)) return `give at least ${spec.base.minItems} (for example ${defaultText(spec) || '0,1'})`;
    for (const v of out) {
      if (items.maximum !== undefined && v > items.maximum) return `${v} is above the largest value, ${items.maximum}`;
      if (items.minimum !== undefined && v < items.minimum) return `${v} is below the smallest value, ${items.minimum}`;
    }
    return out;
  }

  /** The form as params: {params} or {error, field}. Empty nullable fields are null (the default). */
  function readParams() {
    const params = {};
    for (const f of state.fields) {
      const { spec, control } = f;
      const raw = rawValue(f).trim();
      if (spec.kind === 'bool') {
        params[spec.name] = control.checked;
        continue;
      }
      if (raw === '') {
        if (control.validity && control.validity.badInput) return { error: 'write a number', field: f };
        if (spec.nullable) params[spec.name] = null;
        continue; // not nullable: the server's default
      }
      if (spec.kind === 'integer' || spec.kind === 'number') {
        const v = Number(raw);
        if (!Number.isFinite(v)) return { error: 'write a number', field: f };
        if (spec.kind === 'integer' && !Number.isInteger(v)) return { error: 'write a whole number', field: f };
        if (spec.base.minimum !== undefined && v < spec.base.minimum) return { error: `at least ${spec.base.minimum}`, field: f };
        if (spec.base.maximum !== undefined && v > spec.base.maximum) return { error: `at most ${spec.base.maximum}`, field: f };
        params[spec.name] = v;
      } else if (spec.kind === 'list') {
        const v = parseList(raw, spec);
        if (typeof v === 'string') return { error: v, field: f };
        params[spec.name] = v;
      } else {
        params[spec.name] = raw;
      }
    }
    return { params };
  }

  function markField(f, message) {
    f.control.setAttribute('aria-invalid', 'true');
    f.error.textContent = message;
    f.error.hidden = false;
    f.control.focus();
  }

  function clearFieldErrors() {
    for (const f of state.fields || []) {
      f.control.removeAttribute('aria-invalid');
      f.error.hidden = true;
      f.error.textContent = '';
    }
  }

  /** The form field an API error names ("params.seeds.2" -> seeds), if it is on the form. */
  function fieldFor(apiField) {
    if (!apiField) return null;
    const m = /^params\.([^.[\]]+)/.exec(apiField);
    return m ? (state.fields || []).find((f) => f.spec.name === m[1]) || null : null;
  }

  // ---------------------------------------------------------------- uploads

  async function addFiles(files) {
    files = Array.from(files || []);
    if (!files.length) return;
    clearAlert();
    const form = new FormData();
    for (const f of files) form.append('files', f, f.name);
    const status = $('upload-status');
    const drop = $('drop');
    status.textContent = `Uploading ${files.length} ${files.length === 1 ? 'image' : 'images'}…`;
    drop.setAttribute('aria-busy', 'true');
    try {
      const out = await api('POST', '/v1/uploads', form);
      for (const u of out.uploads) {
        state.uploads.push(u);
        state.names.set(u.id, u.filename);
      }
      renderThumbs();
      status.textContent = `${state.uploads.length} ${state.uploads.length === 1 ? 'image' : 'images'} ready`;
    } catch (err) {
      status.textContent = 'Upload refused: nothing was added.';
      report(err);
    } finally {
      drop.removeAttribute('aria-busy');
      $('file-input').value = '';
    }
  }

  function renderThumbs() {
    const list = $('thumbs');
    list.replaceChildren(...state.uploads.map((u, i) => el('li', { class: 'thumb' },
      el('img', { src: u.url, alt: '', width: 64, height: 64 }),
      el('span', { class: 'thumb-name', title: u.filename, text: u.filename }),
      el('span', { class: 'thumb-size', text: `${u.width}×${u.height}` }),
      el('button', { type: 'button', class: 'icon', 'aria-label': `Remove ${u.filename}`, text: '×',
        onclick: () => removeUpload(i) }))));
    $('clear-uploads').hidden = state.uploads.length < 2;
  }

  function removeUpload(i) {
    const name = state.uploads[i].filename;
    state.uploads.splice(i, 1);
    renderThumbs();
    $('upload-status').textContent = `Removed ${name}; ${state.uploads.length} left`;
    const buttons = $('thumbs').querySelectorAll('button');
    (buttons[Math.min(i, buttons.length - 1)] || $('drop')).focus();
  }

  function bindDropZone() {
    const drop = $('drop');
    const input = $('file-input');
    drop.addEventListener('click', () => input.click());
    input.addEventListener('change', () => addFiles(input.files));
    drop.addEventListener('dragover', (e) => {
      e.preventDefault();
      drop.classList.add('over');
    });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', (e) => {
      e.preventDefault();
      drop.classList.remove('over');
      addFiles(e.dataTransfer.files);
    });
    $('clear-uploads').addEventListener('click', () => {
      state.uploads = [];
      renderThumbs();
      $('upload-status').textContent = 'No images chosen';
      drop.focus();
    });
  }

  // ---------------------------------------------------------------- running a job

  async function submit(event) {
    event.preventDefault();
    clearAlert();
    clearFieldErrors();
    const tool = state.tool;
    if (!tool) return;
    const read = readParams();
    if (read.error) {
      markField(read.field, read.error);
      showAlert(`${read.field.spec.title}: ${read.error}`);
      return;
    }
    if (tool.takes_images && !state.uploads.length) {
      showAlert(`${tool.title} works on images: choose at least one first.`);
      $('drop').focus();
      return;
    }
    const run = $('run');
    run.disabled = true;
    run.setAttribute('aria-busy', 'true');
    try {
      const job = await api('POST', '/v1/jobs', {
        tool: tool.name, model: currentModel().name, params: read.params,
        inputs: tool.takes_images ? state.uploads.map((u) => u.id) : [],
      });
      showJob(job);
      announce(`${tool.title} started: ${job.progress.items_total} ${job.progress.items_total === 1 ? 'item' : 'items'}`);
      loadHistory(true);
      refreshUsage();
    } catch (err) {
      const f = fieldFor(err.field);
      if (f) markField(f, err.message);
      else if (err.field && /^inputs/.test(err.field)) $('drop').focus();
      report(err);
    } finally {
      run.disabled = false;
      run.removeAttribute('aria-busy');
    }
  }

  // ---------------------------------------------------------------- job cards

  function toolOf(job) {
    return state.tools.find((t) => t.name === job.tool) || null;
  }

  function takesImages(job) {
    const tool = toolOf(job);
    return tool ? tool.takes_images : job.items.some((it) => it.input_url);
  }

  function uploadIdOf(url) {
    return url ? url.split('/').pop() : null;
  }

  function itemLabel(item) {
    return state.names.get(uploadIdOf(item.input_url)) || item.label;
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

  function when(seconds) {
    const d = new Date(seconds * 1000);
    const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    return d.toDateString() === new Date().toDateString() ? time : `${d.toLocaleDateString()} ${time}`;
  }

  /** Show a job's card at the top of Results (making it if needed) and follow it until it ends. */
  function showJob(job) {
    let entry = state.jobs.get(job.id);
    if (!entry) {
      entry = buildCard(job);
      state.jobs.set(job.id, entry);
    }
    $('jobs').prepend(entry.card);
    $('results-empty').hidden = true;
    updateCard(entry, job);
    if (!FINISHED.has(job.status)) follow(entry);
    return entry;
  }

  function buildCard(job) {
    const tool = toolOf(job);
    const titleId = `job-${job.id}-title`;
    const entry = { job, items: new Map(), source: null, timer: null, images: takesImages(job) };
    entry.badge = el('span', { class: 'badge' });
    entry.bar = el('progress', { max: 1, value: 0, 'aria-label': 'Job progress' });
    entry.progressText = el('span', { class: 'progress-text' });
    entry.error = el('p', { class: 'job-error', hidden: true });
    entry.cancel = el('button', { type: 'button', class: 'danger', text: 'Cancel',
      'aria-describedby': titleId, onclick: () => cancelJob(entry) });
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
          onclick: () => closeJob(entry) })),
      entry.list);
    return entry;
  }

  function updateCard(entry, job) {
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
    for (const item of job.items) updateItem(entry, job, item);
    if (before !== job && before.status !== job.status && finished) {
      const title = (toolOf(job) || { title: job.tool }).title;
      announce(`${title} ${job.status}: ${results} of ${p.items_total} results`);
    } else if (before !== job && before.progress.items_done !== p.items_done && !finished) {
      announce(`${p.items_done} of ${p.items_total} done`);
    }
  }

  function updateItem(entry, job, item) {
    let it = entry.items.get(item.index);
    if (!it) {
      it = buildItem(entry, job, item);
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
      const img = el('img', { src: item.result_url, alt: `Result: ${itemLabel(item)}`, class: 'result-img' });
      fitImage(img, !entry.images);
      it.result.replaceChildren(img);
      it.download.href = item.result_url;
    } else if (!item.result_url) {
      it.result.replaceChildren(el('span', { class: 'placeholder', text: done ? 'no result' : item.status }));
    }
    it.download.hidden = !item.result_url;
  }

  function buildItem(entry, job, item) {
    const label = itemLabel(item);
    const it = {};
    it.status = el('span', { class: 'item-status' });
    it.bar = el('progress', { max: 1, value: 0, 'aria-label': `Progress of ${label}` });
    it.error = el('p', { class: 'item-error', hidden: true });
    it.result = el('div', { class: 'frame result', 'data-src': '' });
    const base = label.replace(/\.[A-Za-z0-9]+$/, '').replace(/[^A-Za-z0-9._-]+/g, '-');
    it.download = el('a', { class: 'download', download: `${job.tool}-${base}.png`, hidden: true,
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

  function follow(entry) {
    if (entry.source || entry.timer) return;
    if (!window.EventSource) {
      poll(entry);
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
      updateCard(entry, job);
      if (FINISHED.has(job.status)) {
        stopFollowing(entry);
        jobFinished();
      }
    });
    source.addEventListener('error', () => {
      if (entry.source !== source) return;
      stopFollowing(entry);
      if (!FINISHED.has(entry.job.status)) poll(entry); // the stream broke: poll instead
    });
  }

  function poll(entry, delay = POLL_MS) {
    entry.timer = setTimeout(async () => {
      entry.timer = null;
      if (!state.jobs.has(entry.job.id)) return;
      try {
        const job = await api('GET', entry.job.links.self);
        updateCard(entry, job);
        if (FINISHED.has(job.status)) jobFinished();
        else poll(entry);
      } catch (err) {
        if ([401, 403, 404].includes(err.status)) report(err);
        else poll(entry, Math.min(delay * 2, 15000)); // the server may be restarting: back off
      }
    }, delay);
  }

  function stopFollowing(entry) {
    if (entry.source) entry.source.close();
    entry.source = null;
    clearTimeout(entry.timer);
    entry.timer = null;
  }

  function jobFinished() {
    loadHistory(true);
    refreshUsage();
  }

  async function cancelJob(entry) {
    entry.cancel.disabled = true;
    try {
      const out = await api('DELETE', entry.job.links.self);
      announce(`Cancelling: ${out.status}`);
    } catch (err) {
      report(err);
    } finally {
      entry.cancel.disabled = false;
    }
  }

  function closeJob(entry) {
    stopFollowing(entry);
    const next = entry.card.nextElementSibling || entry.card.previousElementSibling;
    entry.card.remove();
    state.jobs.delete(entry.job.id);
    $('results-empty').hidden = state.jobs.size > 0;
    (next || $('results-title')).focus();
  }

  // ---------------------------------------------------------------- history

  async function loadHistory(reset) {
    const list = $('history-list');
    let data;
    try {
      const more = reset || state.historyBefore === null ? '' : `&before=${state.historyBefore}`;
      data = await api('GET', `/v1/jobs?limit=${HISTORY_PAGE}${more}`);
    } catch (err) {
      report(err);
      return;
    }
    if (reset) list.replaceChildren();
    for (const job of data.jobs) list.append(historyItem(job));
    if (!list.children.length) list.append(el('li', { class: 'hint', text: 'No jobs yet.' }));
    state.historyBefore = data.next_before;
    $('history-more').hidden = data.next_before === null;
  }

  function historyItem(job) {
    const tool = toolOf(job);
    const n = job.progress.items_total;
    return el('li', {}, el('button', { type: 'button', class: 'history-item', 'data-job': job.id,
      onclick: () => openJob(job.id) },
      el('span', { class: 'h-title' }, el('span', { text: tool ? tool.title : job.tool }),
        el('span', { class: `badge status-${job.status}`, text: job.status })),
      el('span', { class: 'h-meta', text: `${job.model} · ${n} ${n === 1 ? 'item' : 'items'} · ${when(job.created)}` })));
  }

  async function openJob(id) {
    clearAlert();
    try {
      const job = await api('GET', `/v1/jobs/${encodeURIComponent(id)}`);
      const entry = showJob(job);
      entry.card.scrollIntoView({ block: 'start', behavior: 'smooth' });
      entry.card.focus({ preventScroll: true });
    } catch (err) {
      report(err);
    }
  }

  // ---------------------------------------------------------------- start

  async function start() {
    $('alert-close').addEventListener('click', clearAlert);
    $('signout').addEventListener('click', signOut);
    $('model').addEventListener('change', selectModel);
    $('new-job').addEventListener('submit', submit);
    $('history-refresh').addEventListener('click', () => loadHistory(true));
    $('history-more').addEventListener('click', () => loadHistory(false));
    $('results-title').setAttribute('tabindex', '-1');
    bindDropZone();

    let session;
    try {
      session = await api('GET', '/v1/session');
    } catch (err) {
      $('loading').hidden = true;
      report(err);
      return;
    }
    state.csrf = session.csrf_token;
    $('key-name').textContent = session.key;
    $('who').hidden = false;
    try {
      state.tools = await api('GET', '/v1/tools');
    } catch (err) {
      $('loading').hidden = true;
      report(err);
      return;
    }
    renderTools();
    $('loading').hidden = true;
    $('studio').hidden = false;
    refreshUsage();
    loadHistory(true);
  }

  document.addEventListener('DOMContentLoaded', start);
})();

/* Widgets: how one parameter of a JSON schema is shown and read back.
 *
 * Every widget has the same shape:
 *   fits(spec)         whether it can show this field (a slider needs a minimum and a maximum);
 *   build(spec, ctx)   {input, node, help} for ctx = {id, name, value, model}, or null when the field
 *                      does not apply to the selected model (it is then left off the form);
 *   read(input)        the raw text of the field (form.js turns it into the schema's type);
 *   wide / check       layout: the whole row / a checkbox with its label after it.
 * A field's widget comes from its schema alone (form.js widgetFor): the hint
 * `"x-ganforge": {"widget": NAME, ...}` names one, or the JSON type picks one.
 */

import { el } from './dom.js';

const NUMERIC = new Set(['integer', 'number']);
const value = (input) => input.value;

function text(spec, { id, name, value: v }) {
  const input = el('input', { id, name, type: 'text', autocomplete: 'off', spellcheck: 'false',
    placeholder: spec.nullable ? 'empty: default' : '' });
  input.value = v;
  return { input };
}

function number(spec, { id, name, value: v }) {
  const integer = spec.base.type === 'integer';
  const input = el('input', {
    id, name, type: 'number', inputmode: integer ? 'numeric' : 'decimal',
    min: spec.base.minimum, max: spec.base.maximum, step: integer ? 1 : 'any',
    placeholder: spec.nullable ? 'empty: default' : defaultText(spec),
  });
  input.value = v;
  return { input };
}

function checkbox(spec, { id, name, value: v }) {
  const input = el('input', { id, name, type: 'checkbox' });
  input.checked = v === 'true';
  return { input };
}

/** A select of `choices`, after "default" (empty) when `optional` and "all" when `all`. */
function selectOf(choices, { id, name, value: v }, { optional = false, all = false } = {}) {
  const options = [];
  if (optional) options.push(el('option', { value: '', text: 'default' }));
  if (all) options.push(el('option', { value: 'all', text: 'all' }));
  for (const c of choices) options.push(el('option', { value: String(c), text: String(c) }));
  const input = el('select', { id, name }, options);
  input.value = v;
  if (input.selectedIndex < 0) input.selectedIndex = 0;
  return { input };
}

function list(spec, { id, name, value: v }) {
  const input = el('input', { id, name, type: 'text', inputmode: 'numeric', autocomplete: 'off',
    spellcheck: 'false', placeholder: 'e.g. 1,2,3 or 0-3' });
  input.value = v;
  return { input, help: 'Comma-separated, ranges like 0-3.' };
}

/** The selected model's `details[hint.values]` (its classes, say); nothing when it has none. */
function modelValues(spec, ctx) {
  const choices = ctx.model && ctx.model.details ? ctx.model.details[spec.hint.values] : null;
  if (!Array.isArray(choices) || !choices.length) return null;
  return selectOf(choices, ctx, { optional: spec.hint.optional === true, all: spec.hint.all === true });
}

/** One select per property of the selected model's `details[hint.schema]` (a JSON schema of an
 * object whose properties are enums: its traits), each starting at "random" (left out); nothing
 * when the model has none. Read back as the JSON of the chosen ones ('' when none is). */
function modelTraits(spec, ctx) {
  const schema = ctx.model && ctx.model.details ? ctx.model.details[spec.hint.schema] : null;
  const props = schema && typeof schema.properties === 'object' ? Object.entries(schema.properties) : [];
  if (!props.length) return null;
  let saved = {};
  try { saved = ctx.value ? JSON.parse(ctx.value) : {}; } catch { saved = {}; }
  const input = el('div', { id: ctx.id, class: 'traits', role: 'group' });
  props.forEach(([trait, prop], i) => {
    const sid = `${ctx.id}-${i}`;
    const options = [el('option', { value: '', text: 'random' })];
    for (const v of Array.isArray(prop.enum) ? prop.enum : []) options.push(el('option', { value: String(v), text: String(v) }));
    const select = el('select', { id: sid, 'data-trait': trait }, options);
    select.value = typeof saved[trait] === 'string' ? saved[trait] : '';
    if (select.selectedIndex < 0) select.selectedIndex = 0;
    input.append(el('div', {}, el('label', { for: sid, text: prop.title || trait }), select));
  });
  return { input, help: schema.description || '' };
}

function readTraits(input) {
  const chosen = {};
  for (const select of input.querySelectorAll('select[data-trait]')) {
    if (select.value !== '') chosen[select.dataset.trait] = select.value;
  }
  return Object.keys(chosen).length ? JSON.stringify(chosen) : '';
}

function slider(spec, { id, name, value: v }) {
  const { minimum: lo, maximum: hi } = spec.base;
  const step = spec.base.type === 'integer' ? 1 : spec.base.multipleOf ?? (hi - lo) / 100;
  const input = el('input', { id, name, type: 'range', min: lo, max: hi, step });
  if (v !== '') input.value = v;
  const shown = el('output', { for: id, text: input.value });
  input.addEventListener('input', () => { shown.textContent = input.value; });
  return { input, node: el('div', { class: 'slider' }, input, shown) };
}

function color(spec, { id, name, value: v }) {
  const input = el('input', { id, name, type: 'color' });
  if (v !== '') input.value = v;
  return { input };
}

export const WIDGETS = {
  text: { wide: true, fits: () => true, build: text, read: value },
  number: { fits: (s) => NUMERIC.has(s.base.type), build: number, read: value },
  checkbox: { check: true, fits: (s) => s.base.type === 'boolean', build: checkbox, read: (i) => String(i.checked) },
  select: { fits: (s) => Array.isArray(s.base.enum),
    build: (s, ctx) => selectOf(s.base.enum, ctx, { optional: s.nullable }), read: value },
  list: { wide: true, fits: (s) => s.base.type === 'array' && (s.base.items || {}).type === 'integer', build: list,
    read: value },
  'model-values': { wide: true, fits: (s) => s.base.type === 'string' && typeof s.hint.values === 'string',
    build: modelValues, read: value },
  'model-traits': { wide: true, fits: (s) => s.base.type === 'object' && typeof s.hint.schema === 'string',
    build: modelTraits, read: readTraits },
  slider: { wide: true, fits: (s) => NUMERIC.has(s.base.type) && Number.isFinite(s.base.minimum)
    && Number.isFinite(s.base.maximum) && s.base.maximum > s.base.minimum, build: slider, read: value },
  color: { fits: (s) => s.base.type === 'string', build: color, read: value },
};

/** The widget a JSON type gets when no hint names one. */
function byType(spec) {
  const b = spec.base;
  if (Array.isArray(b.enum)) return 'select';
  if (b.type === 'array' && (b.items || {}).type === 'integer') return 'list';
  if (NUMERIC.has(b.type)) return 'number';
  if (b.type === 'boolean') return 'checkbox';
  if (b.type === 'string' && b.format === 'color') return 'color';
  return 'text';
}

/** The field's widget: the one its hint names if it fits, the type's otherwise; an unknown hint
 * or an unknown type gets a text input. */
export function widgetFor(spec) {
  const asked = spec.hint.widget;
  if (asked === undefined) return WIDGETS[byType(spec)];
  if (typeof asked !== 'string' || !Object.hasOwn(WIDGETS, asked)) return WIDGETS.text;
  return WIDGETS[asked].fits(spec) ? WIDGETS[asked] : WIDGETS[byType(spec)];
}

/** The schema's default as the text a field shows. */
export function defaultText(spec) {
  const d = spec.default;
  if (d === null || d === undefined) return '';
  if (Array.isArray(d)) return d.join(',');
  return String(d);
}

/* Parameter forms built from a tool's JSON schema (GET /v1/tools params_schema), and read back.
 *
 * A field's look comes from its widget (widgets.js), its value from its JSON type: integers and
 * numbers within minimum/maximum, arrays of integers as "1,2,5-7", enums as one of their values,
 * booleans, strings, objects as the JSON their widget reads back. `anyOf [X, null]` is X, nullable: an empty field sends null (the default).
 */

import { el } from './dom.js';
import { defaultText, widgetFor } from './widgets.js';

const HINT = 'x-ganforge';

const hintOf = (schema) => (schema && typeof schema[HINT] === 'object' && schema[HINT] !== null ? schema[HINT] : {});

/** One schema property as a field spec: {name, base, nullable, hint, title, description, default, widget}. */
export function fieldSpec(name, prop) {
  let base = prop;
  let nullable = false;
  if (Array.isArray(prop.anyOf)) {
    const others = prop.anyOf.filter((p) => p.type !== 'null');
    nullable = others.length < prop.anyOf.length;
    base = others.length === 1 ? others[0] : {}; // a union of several types: typed as text
  }
  const spec = {
    name, base, nullable,
    hint: { ...hintOf(base), ...hintOf(prop) },
    title: prop.title || name,
    description: prop.description || '',
    default: prop.default,
  };
  spec.widget = widgetFor(spec);
  return spec;
}

/**
 * Fill `box` with the fields of `schema` for `model`; `saved(name)` is what the user typed before
 * (undefined: the schema's default). The fields: [{spec, widget, control, error}].
 */
export function buildForm(box, schema, model, saved) {
  const fields = [];
  box.replaceChildren();
  for (const [name, prop] of Object.entries((schema && schema.properties) || {})) {
    const spec = fieldSpec(name, prop);
    const id = `p-${name}`;
    const remembered = saved(name);
    const value = remembered !== undefined ? remembered : defaultText(spec);
    const built = spec.widget.build(spec, { id, name, model, value });
    if (!built) continue; // not for this model (no classes to pick, say)
    const control = built.input;
    const help = [spec.description, built.help].filter(Boolean).join(' ');
    const helpId = `${id}-help`;
    const errId = `${id}-error`;
    control.setAttribute('aria-describedby', `${helpId} ${errId}`);
    const label = el('label', { for: id, text: spec.title });
    const { wide, check } = spec.widget;
    const field = el('div', { class: `field${wide ? ' wide' : ''}${check ? ' check' : ''}` },
      check ? [built.node || control, label] : [label, built.node || control],
      el('p', { class: 'hint', id: helpId, text: help }),
      el('p', { class: 'field-error', id: errId, hidden: true }));
    box.append(field);
    fields.push({ spec, widget: spec.widget, control, error: field.lastChild });
  }
  if (!fields.length) box.append(el('p', { class: 'hint', text: 'This tool has no parameters.' }));
  return fields;
}

/** What a field holds, as text (kept across tool switches). */
export function rawValue(f) {
  return f.widget.read(f.control);
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

/** A non-empty field's text as its schema's JSON type: {value} or {error}. */
function coerce(schema, raw, spec) {
  if (Array.isArray(schema.enum)) {
    const v = schema.enum.find((e) => String(e) === raw);
    return v === undefined ? { error: `choose one of ${schema.enum.join(', ')}` } : { value: v };
  }
  switch (schema.type) {
    case 'integer':
    case 'number': {
      const v = Number(raw);
      if (!Number.isFinite(v)) return { error: 'write a number' };
      if (schema.type === 'integer' && !Number.isInteger(v)) return { error: 'write a whole number' };
      if (schema.minimum !== undefined && v < schema.minimum) return { error: `at least ${schema.minimum}` };
      if (schema.maximum !== undefined && v > schema.maximum) return { error: `at most ${schema.maximum}` };
      return { value: v };
    }
    case 'boolean':
      return raw === 'true' || raw === 'false' ? { value: raw === 'true' } : { error: 'write true or false' };
    case 'array': {
      if ((schema.items || {}).type === 'integer') {
        const v = parseList(raw, spec);
        return typeof v === 'string' ? { error: v } : { value: v };
      }
      const out = [];
      for (const part of raw.split(',').map((p) => p.trim()).filter(Boolean)) {
        const v = coerce(schema.items || {}, part, spec);
        if (v.error) return { error: `${part}: ${v.error}` };
        out.push(v.value);
      }
      return { value: out };
    }
    case 'object': // a widget that shows an object (one select per trait) reads it back as JSON
      try {
        const v = JSON.parse(raw);
        return v !== null && typeof v === 'object' && !Array.isArray(v) ? { value: v } : { error: 'not an object' };
      } catch {
        return { error: 'not valid JSON' };
      }
    default:
      return { value: raw }; // strings, and types the page does not know (the server checks them)
  }
}

/** The form as params: {params} or {error, field}. Empty nullable fields are null (the default). */
export function readParams(fields) {
  const params = {};
  for (const f of fields) {
    const { spec, control } = f;
    const raw = rawValue(f).trim();
    if (raw === '') {
      if (control.validity && control.validity.badInput) return { error: 'write a number', field: f };
      if (spec.nullable) params[spec.name] = null;
      continue; // not nullable: the server's default
    }
    const v = coerce(spec.base, raw, spec);
    if (v.error) return { error: v.error, field: f };
    params[spec.name] = v.value;
  }
  return { params };
}

export function markField(f, message) {
  f.control.setAttribute('aria-invalid', 'true');
  f.error.textContent = message;
  f.error.hidden = false;
  f.control.focus();
}

export function clearFieldErrors(fields) {
  for (const f of fields || []) {
    f.control.removeAttribute('aria-invalid');
    f.error.hidden = true;
    f.error.textContent = '';
  }
}

/** The form field an API error names ("params.seeds.2" -> seeds), if it is on the form. */
export function fieldFor(fields, apiField) {
  if (!apiField) return null;
  const m = /^params\.([^.[\]]+)/.exec(apiField);
  return m ? (fields || []).find((f) => f.spec.name === m[1]) || null : null;
}

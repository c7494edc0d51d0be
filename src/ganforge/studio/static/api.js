/* The /v1 API: fetch with the session cookie, the CSRF header on changes, the API's error shape. */

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || null;
  }
}

/** One request; the JSON answer (null for 204) or an ApiError. `app.csrf` goes with every change. */
export async function api(app, method, path, body) {
  const opts = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (method !== 'GET' && app.csrf) opts.headers['X-CSRF-Token'] = app.csrf;
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

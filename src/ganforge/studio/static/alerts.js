/* The alert bar, the screen-reader announcements and error reporting. */

import { ApiError } from './api.js';
import { $ } from './dom.js';

export function showAlert(message) {
  $('alert-text').textContent = message;
  $('alert').hidden = false;
}

export function clearAlert() {
  $('alert').hidden = true;
  $('alert-text').textContent = '';
}

export function announce(text) {
  $('live').textContent = text;
}

/** Show an error: a lost session (401) is announced on `app.events` as "signed-out" (main.js
 * shows the sign-in panel), anything else goes to the alert. */
export function report(app, err) {
  if (err instanceof ApiError && err.status === 401) {
    app.events.dispatchEvent(new Event('signed-out'));
    return;
  }
  showAlert(err.message || String(err));
}

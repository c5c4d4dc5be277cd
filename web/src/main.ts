import './app.css';
import { mount } from 'svelte';
import App from './App.svelte';
import { restoreSession, onRefreshWait } from './lib/session.svelte';

// Sign back in (through the session cookie, or the tab's impersonation)
// before the first page draws, so a reload does not flash the sign-in page.
// When that takes a while (a slow or restarting server, asked again) the
// page says what it is waiting for instead of staying blank.
const target = document.getElementById('app')!;
const status = document.createElement('p');
status.className = 'boot-status';
status.setAttribute('role', 'status');
const slow = setTimeout(() => {
  status.textContent = 'Signing you back in…';
  target.append(status);
}, 800);
const stopListening = onRefreshWait(() => {
  status.textContent = 'The server is not answering yet. Trying again…';
  if (!status.isConnected) target.append(status);
});
void restoreSession().finally(() => {
  clearTimeout(slow);
  stopListening();
  status.remove();
  mount(App, { target });
});

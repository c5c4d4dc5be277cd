import './app.css';
import { mount } from 'svelte';
import App from './App.svelte';
import { restoreSession } from './lib/session.svelte';

// Sign back in (through the session cookie, or the tab's impersonation)
// before the first page draws, so a reload does not flash the sign-in page.
void restoreSession().finally(() => {
  mount(App, { target: document.getElementById('app')! });
});

import './app.css';
import { mount } from 'svelte';
import App from './App.svelte';
import { refreshSession } from './lib/session.svelte';

// Sign back in through the session cookie before the first page draws, so
// a reload does not flash the sign-in page.
void refreshSession().finally(() => {
  mount(App, { target: document.getElementById('app')! });
});

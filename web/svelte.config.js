import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

export default {
  preprocess: vitePreprocess(),
  // Component styles go to emitted .css files, never <style> tags at run
  // time: the app's CSP allows only style-src 'self'.
  compilerOptions: { css: 'external' },
};

// The shell: log-in, layout (navigation, language switch, alert sidebar) and the hash router.
//
// Routes: #/plant, #/inventory, #/dispatch, #/integrations and detail routes such as #/plant/<machine_id>,
// #/dispatch/<shipment_id>. A page is pages/<page>.js exporting
//   export default async function render(root, ctx) { ...; return cleanup }   // cleanup optional
// with ctx = {api, t, params, formatTime, formatNumber, charts, role, lang, navigate}; params are the route
// parts after the page name (decoded), e.g. ['M-101'] for #/plant/M-101.

import { ApiError, api, forgetKey, getKey, onUnauthorized, setKey } from './lib/api.js';
import * as charts from './lib/charts.js';
import { h, replaceChildren } from './lib/dom.js';
import { formatNumber, formatTime, timeZone } from './lib/format.js';
import { LANGUAGES, currentLanguage, loadNamespaces, setLanguage, t, translateTree } from './lib/i18n.js';

/** The pages and the roles that use them (in navigation order). */
export const PAGES = [
  { id: 'plant', roles: ['engineer', 'admin'] },
  { id: 'inventory', roles: ['engineer', 'admin'] },
  { id: 'dispatch', roles: ['dispatcher', 'admin'] },
  { id: 'integrations', roles: ['erp', 'admin'] },
  { id: 'scorecard', roles: ['engineer', 'dispatcher', 'admin'] },
];

const appRoot = document.getElementById('app');
let session = null; // {key_id, name, role, alert_domains} from GET /api/v1/me
let pageCleanup = null;
let sidebarCleanup = null;
let renderToken = 0;
let generation = 0; // a new shell (log-in, log-out, language switch) makes everything older stale

function parseRoute() {
  const parts = window.location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] || '', params: parts.slice(1) };
}

export function navigate(page, ...params) {
  window.location.hash = `#/${[page, ...params].map(encodeURIComponent).join('/')}`;
}

function allowedPages() {
  return PAGES.filter((p) => session && p.roles.includes(session.role));
}

function teardown() {
  generation += 1;
  renderToken += 1;
  for (const cleanup of [pageCleanup, sidebarCleanup]) {
    try { if (typeof cleanup === 'function') cleanup(); } catch (err) { console.error(err); }
  }
  pageCleanup = null;
  sidebarCleanup = null;
}

/** The language switch; after a switch, ``redraw()`` draws the screen again in the new language. */
function languageSwitch(redraw) {
  return h('select#lang', {
    'aria-label': t('shell.language'),
    onchange: async (event) => {
      await setLanguage(event.target.value);
      await redraw();
    },
  }, LANGUAGES.map((lang) => h('option', { value: lang, selected: lang === currentLanguage() }, t(`shell.lang.${lang}`))));
}

// ---- log-in ----

/** The log-in page; ``messageKey`` names the text of a message to show above the form (e.g. key expired). */
function showLogin(messageKey) {
  teardown();
  session = null;
  document.title = t('shell.title');
  const input = h('input#api-key', {
    type: 'password', autocomplete: 'off', spellcheck: 'false', required: true,
    placeholder: t('shell.login.placeholder'), 'aria-label': t('shell.login.key'),
  });
  const error = h('p#login-error.error', { role: 'alert', hidden: !messageKey }, messageKey ? t(messageKey) : '');
  const submit = h('button#login-submit.primary', { type: 'submit' }, t('shell.login.submit'));
  const form = h('form#login-form', {
    onsubmit: async (event) => {
      event.preventDefault();
      const key = input.value.trim();
      if (!key) return;
      submit.disabled = true;
      try {
        session = await api('me', { key });
        setKey(key);
        await start();
      } catch (err) {
        error.hidden = false;
        error.textContent = err instanceof ApiError && err.status === 401
          ? t('shell.login.refused') : t('shell.login.unreachable');
        submit.disabled = false;
        input.select();
      }
    },
  }, h('label', { for: 'api-key' }, t('shell.login.key')), input, submit, error);
  replaceChildren(appRoot, h('section#login.login', {},
    h('header.login-head', {}, h('h1', {}, t('shell.brand')), languageSwitch(() => showLogin(messageKey))),
    h('p.hint', {}, t('shell.login.hint')),
    form));
  input.focus();
}


// ---- layout ----

function layout() {
  const nav = h('nav#nav', { 'aria-label': t('shell.nav') },
    allowedPages().map((p) => h('a', { href: `#/${p.id}`, 'data-page': p.id }, t(`shell.page.${p.id}`))));
  const logout = h('button#logout', {
    onclick: () => {
      forgetKey();
      window.location.hash = '';
      showLogin();
    },
  }, t('shell.logout'));
  const who = h('span#who.who', { title: t('shell.tz', { tz: timeZone() }) },
    t('shell.signed_in', { name: session.name, role: t(`shell.role.${session.role}`) }));
  const main = h('main#page.page', { tabindex: '-1' });
  const sidebar = h('aside#sidebar.sidebar', { 'aria-label': t('shell.sidebar') });
  replaceChildren(appRoot,
    h('header.topbar', {}, h('span.brand', {}, t('shell.brand')), nav, h('span.spacer'), who, languageSwitch(start), logout),
    h('div.layout', {}, main, sidebar));
  return { main, sidebar, nav };
}

async function mountSidebar(sidebar) {
  const { mountSidebar: mount } = await import('./components/sidebar.js');
  return mount(sidebar, context([]));
}

function context(params) {
  return {
    api, t, params, formatTime, formatNumber, charts, navigate,
    role: session.role, alertDomains: session.alert_domains, lang: currentLanguage(),
  };
}

async function renderPage(main, nav) {
  const token = ++renderToken;
  if (typeof pageCleanup === 'function') {
    try { pageCleanup(); } catch (err) { console.error(err); }
  }
  pageCleanup = null;
  const pages = allowedPages();
  const route = parseRoute();
  const page = PAGES.find((p) => p.id === route.page);
  if (!page) {
    if (pages.length) navigate(pages[0].id);
    else replaceChildren(main, h('p.empty', {}, t('shell.no_pages')));
    return;
  }
  for (const link of nav.querySelectorAll('a')) link.classList.toggle('active', link.dataset.page === page.id);
  document.title = `${t(`shell.page.${page.id}`)} · ${t('shell.title')}`;
  if (!pages.includes(page)) {
    replaceChildren(main, h('p.empty', {}, t('shell.not_for_role', { page: t(`shell.page.${page.id}`) })));
    return;
  }
  replaceChildren(main, h('p.loading', {}, t('shell.loading')));
  try {
    const [module] = await Promise.all([import(`./pages/${page.id}.js`), loadNamespaces(page.id)]);
    // a language switch while that was loading finds no page catalogue to load in the new language: load it now
    await loadNamespaces(page.id);
    if (token !== renderToken) return;
    const root = h('div.page-root', { 'data-page': page.id });
    replaceChildren(main, root);
    const cleanup = await module.default(root, context(route.params));
    if (token !== renderToken) {
      if (typeof cleanup === 'function') cleanup();
      return;
    }
    pageCleanup = cleanup;
    translateTree(root);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return; // the shell is showing the log-in page
    console.error(err);
    if (token === renderToken) replaceChildren(main, h('p.error', { role: 'alert' }, t('shell.page_failed')));
  }
}

// ---- start ----

async function start() {
  teardown();
  await loadNamespaces('shell');
  document.documentElement.lang = currentLanguage();
  if (!getKey()) {
    showLogin();
    return;
  }
  try {
    session = await api('me');
  } catch (err) {
    showLogin(err instanceof ApiError && err.status === 401 ? 'shell.login.expired' : 'shell.login.unreachable');
    return;
  }
  const { main, sidebar, nav } = layout();
  const shell = generation;
  mountSidebar(sidebar).then((cleanup) => {
    if (shell === generation) sidebarCleanup = cleanup;
    else if (typeof cleanup === 'function') cleanup();
  }).catch((err) => console.error(err));
  await renderPage(main, nav);
}

onUnauthorized(() => {
  if (session) showLogin('shell.login.expired');
});
window.addEventListener('hashchange', () => {
  const main = document.getElementById('page');
  const nav = document.getElementById('nav');
  if (session && main && nav) renderPage(main, nav);
});
start();
